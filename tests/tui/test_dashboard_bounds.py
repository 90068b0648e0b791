"""The dashboard at the edges a review found: a priority or slots value past its bound is told,
never a traceback that ends the dashboard; `n` on a run whose engine died says how to go on
(it did nothing, and the note's text then ran as keys); the run browser shows, filters and
sorts a run whose engine died as `interrupted`, as `phasegate runs` does."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.ask import AskScreen
from phasegate.tui.dashboard.screens.browser import BrowserScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, commands, dashboard, live_run, rows, run_started, until_shown


def _said(app: PhasegateApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_priority_and_slots_past_their_bounds_are_told_not_a_traceback(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "b.db")
    now = time.time()
    started = run_started(now, "bounds", ["top"], agent="w")
    at_top = ev.TaskReprioritised(now, "top", 1_000_000, "ann")
    run_id = await live_run(db, "bounds", [started, at_top])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await until_shown(pilot, "the task", lambda: screen.query_one(TaskTable).row_count == 1)
        await pilot.press("plus")  # (one past a million)
        await until_shown(pilot, "the warning", lambda: bool(_said(app)))
        assert any("priority must be a whole number" in m for m in _said(app)), _said(app)
        screen.action_slots()
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"w 2000", "enter")
        await until_shown(pilot, "the slots warning", lambda: len(_said(app)) > 1)
        assert any("1 to 1,024" in m for m in _said(app)), _said(app)
        assert isinstance(app.screen, DashboardScreen)  # (still there)
    assert await commands(db, run_id) == []  # nothing out of bounds was sent


async def test_n_on_a_run_whose_engine_died_says_how_to_go_on(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    run_id = await live_run(db, "dead", [run_started(time.time(), "dead", ["t"])], dead=True)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        while not isinstance(app.screen, DashboardScreen):  # (the engine-lost offer first)
            await pilot.press("escape")
            await pilot.pause()
        screen = app.screen
        sort = screen.query_one(TaskTable).sort_key
        assert screen.check_action("note", ()) is True
        await pilot.press("n")
        await until_shown(pilot, "the warning", lambda: any("resume" in m for m in _said(app)))
        assert any(f"`phasegate resume {run_id} --db {db}`" in m for m in _said(app)), _said(app)
        await pilot.press("o")  # (handled as a key of its own: the note key did not swallow it)
        assert screen.query_one(TaskTable).sort_key != sort


async def test_the_browser_shows_a_run_whose_engine_died_as_interrupted(tmp_path: Path) -> None:
    db = str(tmp_path / "br.db")
    await live_run(db, "gone", [run_started(time.time(), "gone", ["t"])], dead=True)
    app = PhasegateApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the browser", lambda: isinstance(app.screen, BrowserScreen))
        screen = app.screen
        table = screen.query_one("DataTable")
        await until_shown(pilot, "the run", lambda: table.row_count == 1)  # type: ignore[attr-defined]
        assert "interrupted" in rows(table)[0]  # type: ignore[arg-type]
        await pilot.press("slash", *"interr", "enter")
        await pilot.pause()
        assert table.row_count == 1  # type: ignore[attr-defined]
