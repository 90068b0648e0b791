"""Text anyone can type or a task can print is never read as markup by the dashboard: a stray
`[/]` in a task's newest line, a filter, an output search or a toast crashed it (MarkupError)."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.agents import AgentRoster
from phasegate.tui.dashboard.widgets.output import OutputLog
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import dashboard, live_run, run_started, text, until_shown

# (the roster's line, whole: at 80 columns the roster's ellipsis may cut it; these tests are of
# markup and spend, the 80-column layout has tests of its own)
WIDE = (160, 40)

MARKUP = "tick [/] [bold]x"


def _running() -> list[ev.Event]:
    now = time.time()
    return [
        run_started(now, "inert", ["printer"], agent="w"),
        ev.TaskStarted(now, "printer", 1, "w", 2, 2),
    ]


async def test_markup_typed_or_printed_is_shown_as_written(tmp_path: Path) -> None:
    db = f"{tmp_path}/m.db"
    run_id = await live_run(db, "inert", _running())
    store = await SQLiteStore.open(db)
    try:
        line = OutputLine(run_id, "printer", 1, 1, "out", MARKUP, time.time())
        await store.write_batch(run_id, [], [line])
    finally:
        await store.close()
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=WIDE) as pilot:
        screen = await dashboard(app, pilot)
        roster = ""

        def printed() -> bool:
            nonlocal roster
            roster = text(screen.query_one(AgentRoster))
            return "tick [/]" in roster

        await until_shown(pilot, "the roster to show the task's newest line", printed)
        # a filter typed with a `[`
        await pilot.press("slash", *"[/", "enter")
        table = screen.query_one(TaskTable)
        await until_shown(pilot, "the filter in the title", lambda: "filter: [/" in text(table))
        # a toast whose text holds markup (another user's reason reaches every dashboard so)
        app.notify("[/] stop [bold]now")
        await pilot.pause()
        # the output pane, searched for a text with a `[`
        await pilot.press("escape", "l")
        await until_shown(pilot, "the task's screen", lambda: app.screen is not screen)
        await pilot.press("slash", *"tick [/", "enter")

        def searched() -> bool:
            return "matching 'tick [/'" in text(app.screen.query_one(OutputLog))

        await until_shown(pilot, "the search in the output's title", searched)
        assert app.is_running  # (a MarkupError would have ended the app)
