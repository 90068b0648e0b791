"""What coding agents do and spend, in the dashboard and `show` (issue 17, points 2 and 4):
the header has the run's dollars, the roster each agent's newest line (its last tool call or
message) and spend, the task pane a task's tokens, cost and session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.agents import AgentRoster
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.text import money

from .helpers import dashboard, live_run, run_started, text, until_shown

# (the roster's line, whole: at 80 columns the roster's ellipsis may cut it; these tests are of
# markup and spend, the 80-column layout has tests of its own)
WIDE = (160, 40)

PHASEGATE = os.path.join(os.path.dirname(sys.executable), "phasegate")


def _spending() -> list[ev.Event]:
    now = time.time()
    return [
        run_started(now, "spend", ["done", "build"], agent="coder", slots=2),
        ev.TaskStarted(now, "done", 1, "coder", 1, 1),
        ev.TaskUsage(now, "done", 1, 1200, 80, 0, 0.0123, "reported", "sess-1234567890abcdef", 2),
        ev.TaskFinished(now, "done", 1, "succeeded", 0),
        ev.TaskStarted(now, "build", 1, "coder", 2, 2),
        ev.TaskUsage(now, "build", 1, 300, 20, 0, 0.5, "priced", "sess-2", 1),
    ]


async def test_the_header_roster_and_task_pane_show_what_agents_do_and_spend(
    tmp_path: Path,
) -> None:
    db = f"{tmp_path}/s.db"
    run_id = await live_run(db, "spend", _spending())
    store = await SQLiteStore.open(db)
    try:
        lines = [
            OutputLine(run_id, "build", 1, 1, "out", "  I will run the tests", time.time()),
            OutputLine(run_id, "build", 1, 2, "out", "→ Bash: make \x1b[31mtest", time.time()),
        ]
        await store.write_batch(run_id, [], lines)
    finally:
        await store.close()
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=WIDE) as pilot:
        screen = await dashboard(app, pilot)
        roster = ""

        def doing() -> bool:
            nonlocal roster
            roster = text(screen.query_one(AgentRoster))
            return "→ Bash: make" in roster  # (then `quiet Ns` on a slow machine)

        await until_shown(pilot, "the roster to show the agent's newest line", doing)
        header = text(screen.query_one(RunHeader))
        assert "$0.5123" in header  # the run's dollars: both tasks'
        assert "build · " in roster and "→ Bash: make" in roster, roster  # (escaped text)
        assert "\x1b" not in roster
        await pilot.press("enter")  # (the task table's first row)

        def pane() -> bool:
            shown = isinstance(app.screen, TaskScreen)
            return shown and "session" in text(app.screen.query_one("#details"))

        await until_shown(pilot, "the task pane with the task's spend", pane)
        assert isinstance(app.screen, TaskScreen) and app.screen.task_id == "done"
        details = text(app.screen.query_one("#details"))
        assert "tokens 1,200 in / 80 out · $0.0123 reported · session sess-1234567" in details


def test_money_reads_as_people_write_it() -> None:
    assert [money(x) for x in (0, 0.0016, 0.5123, 3.456, 1234.5)] == [
        "$0",
        "$0.0016",
        "$0.5123",
        "$3.46",
        "$1,234",
    ]


async def test_show_says_what_the_run_spent(tmp_path: Path) -> None:
    db = f"{tmp_path}/s.db"
    run_id = await live_run(db, "spend", _spending())
    env = {**os.environ, "PHASEGATE_DB": db, "NO_COLOR": "1"}
    shown = subprocess.run(
        [PHASEGATE, "show", run_id], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "spent    $0.5123 (reported, priced) · 1,500 in / 100 out tokens · 3 turns" in shown
