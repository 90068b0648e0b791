"""A command sent to a run's engine is answered once what it did is in the database: what its
sender is told survives the engine's death. Regression: a skip was answered ("being stopped; it
will be skipped") from the batch still in memory; a kill -9 within the batch's window lost it,
and the take-over ran the task again."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from phasegate.engine.client import send
from phasegate.engine.model import commands as cmd
from phasegate.engine.store import SQLiteStore

from .conftest import Run, show_last, until

PLAN = """
name: long
agents: {w: {}}
phases:
  - id: one
    tasks: [{id: slow, run: "sleep 30"}]
"""


def _kinds(db: str) -> list[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [r[0] for r in conn.execute("SELECT type FROM events ORDER BY seq")]


def _answered(db: str, number: int) -> list[str]:
    """The events recorded up to the one answering command `number` (none: not recorded)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT type, data FROM events ORDER BY seq").fetchall()
    done = [i for i, (kind, data) in enumerate(rows) if kind == "command.done"]
    mine = [i for i in done if json.loads(rows[i][1])["command"] == number]
    return [kind for kind, _ in rows[: mine[0] + 1]] if mine else []


async def test_a_skip_is_answered_once_it_is_recorded(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "long.yaml").write_text(PLAN)
    started = pg("run", "long.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    run_id, db = started.stdout.strip(), cli_env["PHASEGATE_DB"]
    until("the task to start", lambda: "task.started" in _kinds(db))
    store = await SQLiteStore.open(db)
    try:
        for _ in range(5):  # (each read at once after the answer, as a kill -9 could come)
            number = await send(store, run_id, cmd.Note("still here"))
            assert _answered(db, number), _kinds(db)
        number = await send(store, run_id, cmd.Skip("slow", "not today"))
        recorded = _answered(db, number)
        assert recorded[-2:] == ["task.stopping", "command.done"], _kinds(db)
    finally:
        await store.close()
    until("the run to end", lambda: show_last(pg)["status"] != "running")
