"""Pilot tests of the run browser (`phasegate ui`) at 80x24: its keys, its help, its filter and
sort. Regression: `?` showed the dashboard's keys, `o` and `/` did nothing, and Home and End
left the cursor where it was (enter then opened the run it had been left on)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.browser import BROWSER_COMMANDS, BrowserScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.help import HelpScreen

from .helpers import SIZE, text, until_shown
from .helpers import rows as table_rows

# id, plan, status, user, started (seconds after T0), took (seconds); listed newest first
RUNS = [
    ("r30", "deploy", "running", "ann", 30, 5),
    ("r29", "build", "failed", "bob", 29, 40),
    ("r28", "build", "succeeded", "ann", 28, 2),
] + [(f"r{i:02}", "nightly", "succeeded", "cron", i, 10 + i) for i in range(27, 0, -1)]
T0 = 1_700_000_000.0


@pytest.fixture
async def runs_db(tmp_path: Path) -> str:
    """Thirty runs, more than 80x24 shows at once."""
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    try:
        for run_id, plan, status, user, at, took in reversed(RUNS):
            start = T0 + at
            await store.create_run(
                RunRow(run_id, plan, f"{plan}.yaml", status, start, start, start + took, user=user)
            )
    finally:
        await store.close()
    return db


def _ids(app: PhasegateApp) -> list[str]:
    return [r[0] for r in table_rows(app.screen.query_one(DataTable))]


def _under_cursor(app: PhasegateApp) -> str:
    table = app.screen.query_one(DataTable)
    return str(table.get_row_at(table.cursor_row)[0])


async def test_home_and_end_move_the_cursor_and_enter_opens_the_run_under_it(
    runs_db: str,
) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)
        await pilot.press("end")
        assert _under_cursor(app) == "r01"
        await pilot.press("home")
        assert _under_cursor(app) == "r30"
        await pilot.press("j", "j")
        assert _under_cursor(app) == "r28"
        await pilot.press("end", "home", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert app.screen.feed.run_id == "r30"  # the tester's: the bottom run opened instead


async def test_help_lists_the_browsers_keys_not_the_dashboards(runs_db: str) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(text(s) for s in app.screen.query("Static"))
        for key in ("ctrl+p", "j k", "home / end", "enter", "/", "o", "esc", "q"):
            assert key in shown
        for name, _, _ in BROWSER_COMMANDS:
            assert name in shown
        # none of the run dashboard's: no task table, nothing to pause, skip or cancel here
        for theirs in ("task", "pause", "skip", "priority", "detach", "gates"):
            assert theirs not in shown.lower()
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen)


async def test_every_key_the_footer_offers_is_bound_here(runs_db: str) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        offered = [b.action for b in screen.BINDINGS if getattr(b, "show", True)]  # type: ignore[union-attr]
        for action in offered:
            name = action.removeprefix("app.")
            assert callable(getattr(screen if name == action else app, f"action_{name}"))
        assert {"filter", "sort"} <= set(offered)


@pytest.mark.slow
async def test_filter_narrows_the_runs_and_escape_clears_it(runs_db: str) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        assert box.has_focus
        await pilot.press(*"build")  # by plan, live
        assert _ids(app) == ["r29", "r28"]
        await pilot.press("enter")
        assert app.screen.query_one(DataTable).has_focus and not box.display
        assert "filter: build" in text(app.screen.query_one("#title"))
        await pilot.press("escape")
        assert len(_ids(app)) == len(RUNS)
        # by status, by user, by run id
        for typed, expected in (("failed", ["r29"]), ("cron", None), ("r07", ["r07"])):
            await pilot.press("slash", *typed, "enter")
            shown = _ids(app)
            assert shown == (expected or [r[0] for r in RUNS if r[3] == "cron"])
            await pilot.press("escape")
        # a filter nothing matches says so
        await pilot.press("slash", *"zzz", "enter")
        assert _ids(app) == [] and "no run matches" in text(app.screen.query_one("#title"))
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen) and len(_ids(app)) == len(RUNS)


async def test_sort_cycles_newest_plan_status_duration_and_keeps_the_cursors_run(
    runs_db: str,
) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert _ids(app)[:3] == ["r30", "r29", "r28"]
        assert "sort: newest" in text(app.screen.query_one("#title"))
        await pilot.press("j")  # r29
        await pilot.press("o")  # plan
        assert _ids(app)[:3] == ["r29", "r28", "r30"]
        assert _under_cursor(app) == "r29"
        await pilot.press("o")  # status: a running run first, then a failed one
        assert _ids(app)[:2] == ["r30", "r29"]
        await pilot.press("o")  # duration, longest first
        assert _ids(app)[:2] == ["r29", "r27"]
        assert "sort: duration" in text(app.screen.query_one("#title"))
        await pilot.press("o")
        assert "sort: newest" in text(app.screen.query_one("#title"))
        assert _ids(app) == [r[0] for r in RUNS]


async def _from_palette(app: PhasegateApp, pilot: Pilot[object], typed: str, name: str) -> None:
    """Open the palette, type, wait for the command named to be the first hit, pick it."""
    await pilot.press("ctrl+p")
    await until_shown(pilot, "the command palette", lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*typed)
    hits = app.screen.query_one(CommandList)

    def first_hit() -> bool:
        return hits.option_count > 0 and name in str(hits.get_option_at_index(0).prompt)

    await until_shown(pilot, f"{name} in the palette", first_hit)
    await pilot.press("down", "enter")
    await until_shown(
        pilot, "the palette closed", lambda: not isinstance(app.screen, CommandPalette)
    )


async def test_the_palette_offers_the_browsers_commands_and_keys(runs_db: str) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _from_palette(app, pilot, "sort runs", "Sort runs")
        assert isinstance(app.screen, BrowserScreen)
        assert "sort: plan" in text(app.screen.query_one("#title"))
        # the palette's `Keys` shows this screen's help, not the dashboard's
        await _from_palette(app, pilot, "keys", "Keys")
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(text(s) for s in app.screen.query("Static"))
        assert "Sort runs" in shown and "skip" not in shown


async def test_a_new_run_leaves_the_cursor_on_its_run(runs_db: str) -> None:
    """The list is read again every two seconds: the cursor stays on its run, not its row."""
    app = PhasegateApp(runs_db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BrowserScreen) and app.store is not None
        await pilot.press("j")
        assert _under_cursor(app) == "r29"
        await app.store.create_run(RunRow("r31", "new", "new.yaml", "running", T0 + 31, T0 + 31))
        await screen.load()
        assert _ids(app)[0] == "r31" and _under_cursor(app) == "r29"
