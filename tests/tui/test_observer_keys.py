"""An observer's dashboard offers only what an observer may do.

Regression: a user who was neither the run's starter nor among the plan's `operators` saw
`p Pause` in the footer, `n` opened the note box and the quit dialog offered "s stop the run";
each was refused by the engine after the fact, with a toast in every attached dashboard.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import App
from textual.widgets import Static

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.ask import AskScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.quit import QuitScreen

from .helpers import SIZE, dashboard, live_run, run_started, text
from .helpers import commands as sent_commands

STEERING_KEYS = {"p", "s", "x", "R", "plus", "minus", "n"}
STEERING_COMMANDS = {
    "Retry task",
    "Agent slots",
    "Pause or resume a phase",
    "Amend the plan",
}


async def _going(db: str, starter: str, operators: list[str]) -> str:
    now = time.time()
    started = run_started(now, "shared", ["t"], agent="a", user=starter, operators=operators)
    return await live_run(db, "shared", [started, ev.TaskStarted(now, "t", 1, "a", 1, 1)])


def _palette(app: App[object], screen: DashboardScreen) -> set[str]:
    return {c.title for c in app.get_system_commands(screen)}


async def test_an_observer_is_offered_no_steering_and_no_stop(tmp_path: Path) -> None:
    db = f"{tmp_path}/o.db"
    run_id = await _going(db, "starter", ["carol"])
    app = PhasegateApp(db, run_id, viewer="eve")  # in the group, neither starter nor operator
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await pilot.pause()
        offered = set(screen.active_bindings)
        assert not offered & STEERING_KEYS, offered & STEERING_KEYS
        assert {"d", "q", "g", "l"} <= offered  # looking and leaving stay
        assert not _palette(app, screen) & STEERING_COMMANDS
        await pilot.press("p", "n", "s", "x", "R", "plus")
        await pilot.pause()
        assert app.screen is screen  # no note box, no question, no confirmation
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        said = text(app.screen.query_one(Static))
        assert "stop the run" not in said and "leave it running" in said
        await pilot.press("ctrl+s")  # not hers to press: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("l")
        await pilot.pause()
    assert app.return_value == "left"
    assert await sent_commands(db, run_id) == []  # nothing was sent to be refused


async def test_an_operator_of_the_plan_is_offered_steering_and_stop(tmp_path: Path) -> None:
    db = f"{tmp_path}/c.db"
    run_id = await _going(db, "starter", ["carol"])
    app = PhasegateApp(db, run_id, viewer="carol")  # the plan's roles.operators
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await pilot.pause()
        assert {"p", "d", "q"} <= set(screen.active_bindings)
        assert _palette(app, screen) >= STEERING_COMMANDS
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)  # the note box
        await pilot.press("escape", "q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        assert "stop the run" in text(app.screen.query_one(Static))
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert [kind for kind, _ in await sent_commands(db, run_id)] == ["cancel"]
