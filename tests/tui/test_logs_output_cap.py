"""`logs` says what the output cap took (a regression: a line longer than the cap left nothing,
and `logs` printed nothing at all, exit 0): a line cut to its tail says so, and an attempt none
of whose lines are left says how many were dropped, from its task.finished."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine, RunRow

from .conftest import Run
from .helpers import run_started

CAP = "dropped by the output cap (the plan's output_cap) ──"


async def _logs(tmp_path: Path, finished: list[ev.TaskFinished], task: str | None) -> str:
    """`logs` of a run whose attempts ended so, the store holding the lines of `kept` only."""
    from phasegate.tui.cli.views import print_logs

    db = str(tmp_path / "z.db")
    store = await SQLiteStore.open(db)
    try:
        await store.create_run(RunRow("r", "p", "x.yaml", "failed", 1.0, finished_at=9.0))
        events = [run_started(1.0, "r", ["w", "v"]), *finished]
        later = OutputLine("r", "v", 1, 7, "out", "last of v", 3.0)
        await store.write_batch("r", list(enumerate(events, 1)), [later])
    finally:
        await store.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        await print_logs(db, "r", task, False, None, False)
    return out.getvalue()


async def test_an_attempt_the_output_cap_left_nothing_of_says_how_many_lines_went(
    tmp_path: Path,
) -> None:
    finished = [
        ev.TaskFinished(2.0, "w", 1, "failed", 1, 3, 3),
        ev.TaskFinished(3.0, "w", 2, "succeeded", 0, 1, 1),
        ev.TaskFinished(4.0, "v", 1, "succeeded", 0, 7, 6),
    ]
    assert await _logs(tmp_path, finished, "w") == (
        f"── attempt 1: all 3 of its lines {CAP}\n"
        "── attempt 1 failed: exited with code 1 ──\n"
        f"── attempt 2: its one line {CAP}\n"
    )
    (tmp_path / "all").mkdir()
    every = await _logs(tmp_path / "all", finished, None)
    assert every == (
        f"v | ── 6 earlier lines {CAP}\n"
        "v | last of v\n"
        f"w | ── attempt 1: all 3 of its lines {CAP}\n"
        "w | ── attempt 1 failed: exited with code 1 ──\n"
        f"w | ── attempt 2: its one line {CAP}\n"
    )


HUGE = """
name: huge
output_cap: 1000
agents: {a: {}}
phases:
  - id: p
    tasks: [{id: oneline, run: "head -c 5000 /dev/zero | tr '\\\\0' a"}]
"""


def test_logs_show_a_line_longer_than_the_output_cap_cut_to_its_tail(
    pg: Run, tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(HUGE)
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    logs = pg("logs", "last", "oneline")
    assert logs.returncode == 0
    mark = "«output_cap: the first 4,068 of 5,000 characters of this line cut»…"
    assert logs.stdout == mark + "a" * (999 - len(mark)) + "\n"  # (999 and its newline)
