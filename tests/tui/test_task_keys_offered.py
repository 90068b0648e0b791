"""The footer offers the selected task's keys where the engine takes them, and every key that
works shows at 80x24 and 120x40, `? Help` and `q Quit` always; a run opened from the run browser
says `esc Back`.

Regressions: `R`, `s`, `x`, `n`, `f` and `+`/`-` never showed in the footer, even with a failed
task selected; `s` on a failed task asked for a reason, then said `refused: task 'failer' has
ended already (failed)`; the dashboard of a run opened from `phasegate ui` did not say that
`esc` goes back to the list of runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.ask import AskScreen, ConfirmScreen
from phasegate.tui.dashboard.screens.browser import BrowserScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, footer, live_run, run_started, until_shown
from .helpers import commands as sent_commands


async def _going(db: str) -> str:
    """A live run of one phase: `failer` failed (its phase goes on, so it may run again),
    `busy` runs, `later` waits for its turn."""
    now = time.time()
    events: list[ev.Event] = [
        run_started(now - 60, "going", ["failer", "busy", "later"], agent="a", slots=2),
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 60, "failer", 1, "a", 1, 1),
        ev.TaskFinished(now - 50, "failer", 1, "failed", 1),
        ev.TaskStarted(now - 50, "busy", 1, "a", 1, 1),
    ]
    return await live_run(db, "going", events)


async def _select(pilot: Pilot[object], screen: DashboardScreen, task: str) -> None:
    table = screen.query_one(TaskTable)
    await until_shown(pilot, f"{task} in the table", lambda: task in table._shown)
    table.move_cursor(row=table._shown.index(task))
    await pilot.pause()


async def _footer(pilot: Pilot[object], app: PhasegateApp, width: int, shows: str) -> str:
    """The footer once it shows `shows` (its keys are laid out again when the selection
    changes: the new ones render on a later turn of the loop), or as it is after 100 turns."""
    for _ in range(100):
        line = footer(app, width)
        if shows in line:
            return line
        await pilot.pause()
    return footer(app, width)


@pytest.mark.parametrize("size", [SIZE, (120, 40)])
async def test_the_footer_shows_the_selected_task_s_keys(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db = f"{tmp_path}/k.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=size) as pilot:
        screen = await dashboard(app, pilot)
        width = size[0]
        await _select(pilot, screen, "failer")
        line = await _footer(pilot, app, width, "R Retry")
        assert "R Retry" in line, line
        assert "s Skip" not in line and "x Cancel" not in line, line  # (it has ended)
        assert line.startswith("? Help") and line.endswith("q Quit"), line
        await _select(pilot, screen, "busy")
        line = await _footer(pilot, app, width, "s Skip")
        assert "s Skip" in line and "x Cancel" in line and "R Retry" not in line, line
        assert line.startswith("? Help") and line.endswith("q Quit"), line
        if width >= 120:  # room for every key that works now
            for key in ("+/- Priority", "n Note", "f Follow", "p Pause", "d Detach", "g Gates"):
                assert key in line, line


async def test_the_footer_is_built_again_only_when_its_keys_change(tmp_path: Path) -> None:
    """Textual's footer made its keys anew (a widget each, styled again) at every refresh of
    the screen's bindings, though none changed: half the CPU of a dashboard's test."""
    db = f"{tmp_path}/f.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        assert "s Skip" in await _footer(pilot, app, SIZE[0], "s Skip")
        keys = list(app.screen.query_one(Footer).query("FooterKey"))
        for _ in range(5):
            screen.refresh_bindings()
            await pilot.pause()
        again = list(app.screen.query_one(Footer).query("FooterKey"))
        assert len(again) == len(keys) and all(a is b for a, b in zip(again, keys, strict=True))
        await _select(pilot, screen, "failer")  # (its keys differ: built again)
        line = await _footer(pilot, app, SIZE[0], "R Retry")
        assert "R Retry" in line and "s Skip" not in line, line


@pytest.mark.slow
async def test_s_and_x_on_an_ended_task_say_why_not_and_ask_nothing(tmp_path: Path) -> None:
    db = f"{tmp_path}/e.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "failer")
        await pilot.press("s")
        await pilot.pause()
        assert app.screen is screen  # no reason asked for
        said = [n.message for n in app._notifications]
        assert any("task 'failer' has ended already (failed)" in m for m in said), said
        assert any("R runs it again" in m for m in said), said
        await pilot.press("x", "plus")
        await pilot.pause()
        assert app.screen is screen  # no confirmation either
        await _select(pilot, screen, "later")  # pending: nothing to run again
        await pilot.press("R")
        await pilot.pause()
        assert app.screen is screen
        said = [n.message for n in app._notifications]
        assert any("task 'later' is pending" in m for m in said), said
        await pilot.press("s")  # a task that has not ended: asks its reason
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"not needed", "ctrl+s")
        await pilot.pause()
        await _select(pilot, screen, "failer")
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
    sent = [(kind, args.get("task")) for kind, args in await sent_commands(db, run_id)]
    assert sent == [("skip", "later"), ("retry", "failer")]


async def test_a_run_opened_from_the_browser_says_esc_goes_back(tmp_path: Path) -> None:
    db = f"{tmp_path}/b.db"
    await _going(db)
    app = PhasegateApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)
        await pilot.press("enter")
        await until_shown(
            pilot, "the run's dashboard", lambda: isinstance(app.screen, DashboardScreen)
        )
        await pilot.pause()
        line = footer(app, SIZE[0])
        assert "esc Back" in line, line
        assert line.startswith("? Help") and line.endswith("q Quit"), line
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)
    # opened as `phasegate attach` does: no list to go back to
    app = PhasegateApp(db, "going")
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        assert "Back" not in footer(app, SIZE[0])


async def test_every_key_of_a_narrow_footer_is_whole_and_help_and_quit_stay(
    tmp_path: Path,
) -> None:
    db = f"{tmp_path}/n.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(60, 20)) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        line = footer(app, 60)
        assert line.startswith("? Help") and line.endswith("q Quit"), line
        assert "s Skip" in line and "x Cancel" in line, line
        keys = screen.query_one(Footer).query("FooterKey")
        assert all(k.region.right <= 60 for k in keys if k.display)  # (none cut at the edge)
