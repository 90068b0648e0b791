"""`phasegate logs RUN -f` on a run whose engine died (kill -9) says that the run was interrupted
and how to take it over, as `runs` and `show` word it, after the lines it has.

Regression: it printed the last line and stopped, silent, as after the run's end."""

from __future__ import annotations

import asyncio
import time

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine

from .conftest import Run
from .helpers import live_run, run_started


async def _dead_run(db: str) -> str:
    """A run its engine left unfinished, with one line of output."""
    now = time.time()
    started = run_started(now, "dead", ["t"])
    run_id = await live_run(db, "dead", [started, ev.TaskStarted(now, "t", 1, "m", 1, 1)], True)
    store = await SQLiteStore.open(db)
    try:
        line = OutputLine(run_id, "t", 1, 1, "out", "half-way there", now)
        await store.write_batch(run_id, [], [line])
    finally:
        await store.close()
    return run_id


def test_logs_f_says_the_run_was_interrupted_and_how_to_go_on(
    pg: Run, cli_env: dict[str, str]
) -> None:
    run_id = asyncio.run(_dead_run(cli_env["PHASEGATE_DB"]))
    assert "interrupted" in pg("runs").stdout  # (as the list has it)
    done = pg("logs", run_id, "-f")
    assert done.stdout == "t | half-way there\n"  # (the lines first, on stdout only)
    assert done.stderr == (
        f"phasegate: run {run_id} was interrupted: its engine is not running; "
        f"`phasegate resume {run_id}` takes it over\n"
    )
    assert done.returncode == 0  # (as `show` and `attach` exit on an interrupted run)
    one = pg("logs", run_id, "t", "-f")  # (one task's lines alike)
    assert one.stdout == "half-way there\n" and "was interrupted" in one.stderr


def test_logs_without_f_prints_the_lines_only(pg: Run, cli_env: dict[str, str]) -> None:
    run_id = asyncio.run(_dead_run(cli_env["PHASEGATE_DB"]))
    done = pg("logs", run_id)
    assert done.returncode == 0 and done.stdout == "t | half-way there\n" and done.stderr == ""


def test_gates_wait_says_the_run_was_interrupted_and_how_to_go_on(
    pg: Run, cli_env: dict[str, str]
) -> None:
    """Regression: `gates --wait RUN` said `run ... is running and has no live engine` while
    `runs` said interrupted."""
    run_id = asyncio.run(_dead_run(cli_env["PHASEGATE_DB"]))
    done = pg("gates", run_id, "--wait", "--timeout", "5")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"phasegate: run {run_id} was interrupted: its engine is not running; "
        f"`phasegate resume {run_id}` takes it over; no gate of it will open for "
    ), done.stderr
