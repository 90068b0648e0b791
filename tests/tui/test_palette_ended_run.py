"""`ctrl+p` on an ended run: the palette offers only what works there (filter, sort, output,
research answers, quit...), and nothing in it, nor opening it, says "nothing to steer". While
the run goes on, its steering commands are offered.

Regression: on an ended run the palette offered agent slots, a phase's pause, an amendment,
retry and detach, and told "this run has ended: nothing to steer" (twice, once opened)."""

from __future__ import annotations

import time
from pathlib import Path

from textual.command import CommandPalette

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.research import ResearchScreen

from .helpers import SIZE, dashboard, live_run, run_started, until_shown

STEERING = {"Retry task", "Agent slots", "Pause or resume a phase", "Amend the plan", "Detach"}


async def _run(db: str, ended: bool) -> str:
    now = time.time()
    events: list[ev.Event] = [
        run_started(now - 60, "pal", ["t"], agent="a"),
        ev.ResearchFinished(now - 60, "earlier", "history", "flaky tasks", ["t was flaky"]),
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 50, "t", 1, "a", 1, 1),
    ]
    if ended:
        events += [
            ev.TaskFinished(now - 40, "t", 1, "succeeded", 0),
            ev.PhaseFinished(now - 40, "p", "succeeded"),
            ev.RunFinished(now - 40, "succeeded"),
        ]
    return await live_run(db, "pal", events)


async def test_an_ended_runs_palette_offers_what_works_and_says_nothing(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await _run(db, ended=True)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)

        def said() -> list[str]:
            return [n.message for n in app._notifications]

        offered = {c.title for c in app.get_system_commands(screen)}
        assert not offered & STEERING, offered & STEERING
        assert {"Filter tasks", "Sort tasks", "Show output", "Research answers"} <= offered
        await pilot.press("ctrl+p")
        await until_shown(pilot, "the palette", lambda: isinstance(app.screen, CommandPalette))
        await pilot.pause(0.3)
        assert not [m for m in said() if "steer" in m], said()
        await pilot.press(*"Research answers")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until_shown(pilot, "the answers", lambda: isinstance(app.screen, ResearchScreen))
        await pilot.press("escape")
        await until_shown(pilot, "the dashboard", lambda: app.screen is screen)
        assert not [m for m in said() if "steer" in m], said()


async def test_a_live_runs_palette_offers_its_steering(tmp_path: Path) -> None:
    db = f"{tmp_path}/l.db"
    run_id = await _run(db, ended=False)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        offered = {c.title for c in app.get_system_commands(screen)}
        assert offered >= STEERING, STEERING - offered
