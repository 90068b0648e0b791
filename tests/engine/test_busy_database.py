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


def _hold_the_lock(db: str, locked: threading.Event, release: threading.Event) -> None:
    """Another process's long write transaction: from `locked` until `release`."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("BEGIN IMMEDIATE")
    locked.set()
    release.wait(timeout=30)
    conn.execute("COMMIT")
    conn.close()


async def test_a_locked_database_holds_the_run_back_but_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)  # each try gives up fast
    db = str(tmp_path / "pg.db")
    store = await SQLiteStore.open(db)
    release = threading.Event()
    locked = threading.Event()

    holder = threading.Thread(target=_hold_the_lock, args=(db, locked, release))
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


async def test_a_command_sent_while_the_database_is_locked_is_answered_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a command is answered once its record is written, but not later than STORED_WAIT while
    # another process keeps the database locked (the client waited its whole 30 s, then said
    # the engine was busy or stopped); the record is written once the lock goes
    import asyncio

    from phasegate.engine.client import send
    from phasegate.engine.model import commands as cmd
    from phasegate.engine.run import channel

    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(channel, "STORED_WAIT", 0.3)
    db = str(tmp_path / "pg.db")
    store = await SQLiteStore.open(db)
    release, locked = threading.Event(), threading.Event()

    plan = (
        'name: busy\nagents: {w: {}}\nphases:\n  - id: one\n    tasks: [{id: t, run: "sleep 30"}]\n'
    )
    started = asyncio.Event()
    runner = Runner(
        load_plan(str(write_plan(tmp_path, plan))),
        store,
        "run1",
        run_dir=str(tmp_path / "runs" / "run1"),
        listeners=[lambda e: started.set() if type(e).__name__ == "TaskStarted" else None],
    )
    going = asyncio.create_task(runner.run())
    holder = threading.Thread(target=_hold_the_lock, args=(db, locked, release))
    try:
        await asyncio.wait_for(started.wait(), 10)
        holder.start()
        await asyncio.to_thread(locked.wait, 5)
        # answered while the lock is held (it is released only after: else this times out)
        number = await asyncio.wait_for(send(store, "run1", cmd.Note("while locked")), 10)
        release.set()
        await asyncio.wait_for(send(store, "run1", cmd.Cancel("done")), 10)
        await asyncio.wait_for(going, 30)
    finally:
        release.set()
        if holder.is_alive():
            holder.join()
    done = [e for _, e in await store.read_events("run1") if getattr(e, "command", None) == number]
    assert [type(e).__name__ for e in done] == ["CommandDone"] and done[0].ok  # type: ignore[attr-defined]
    await store.close()
