"""A database another process keeps locked never kills a run: what the engine collects waits in
memory and is written, in order, once the lock goes (issue 16, F4: a 30 s lock stopped the run
after ~21 s and lost most of its output)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from phasegate.engine.model.statuses import RunStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store import sqlite as sqlite_store

from .helpers import write_plan

LINES = 40
PLAN = f"""
name: busy
agents: {{w: {{}}}}
phases:
  - id: one
    tasks:
      - id: talk
        run: "sh -c 'for i in $(seq 1 {LINES}); do echo line$i; sleep 0.05; done'"
      - {{id: after, run: "true", needs: [talk]}}
"""


async def test_a_locked_database_holds_the_run_back_but_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)  # each try gives up fast
    db = str(tmp_path / "pg.db")
    store = await SQLiteStore.open(db)
    release = threading.Event()
    locked = threading.Event()

    def hold_the_lock() -> None:  # another process's long write transaction
        conn = sqlite3.connect(db, isolation_level=None, timeout=10)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(timeout=30)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_the_lock)
    lines_seen: list[str] = []

    def listener(event: object) -> None:
        # once the task has started, lock the database for a while (several busy timeouts)
        if type(event).__name__ == "TaskStarted" and not holder.is_alive() and not locked.is_set():
            holder.start()
            locked.wait(5)
            threading.Timer(2.0, release.set).start()

    try:
        runner = Runner(
            load_plan(str(write_plan(tmp_path, PLAN))),
            store,
            "run1",
            run_dir=str(tmp_path / "runs" / "run1"),
            listeners=[listener],
        )
        state = await runner.run()
    finally:
        release.set()
        if holder.is_alive():
            holder.join()
    assert locked.is_set(), "the lock was never taken: the test proved nothing"
    assert state.status is RunStatus.SUCCEEDED, state.reason
    lines_seen = [line.text for line in await store.read_output("run1", "talk", 1)]
    assert lines_seen == [f"line{i}" for i in range(1, LINES + 1)]
    seqs = [seq for seq, _ in await store.read_events("run1")]
    assert seqs == list(range(1, len(seqs) + 1))
    await store.close()
