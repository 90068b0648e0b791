"""Steering from the command palette: an agent's slots and one phase's pause, with bad input
explained and nothing sent."""

from __future__ import annotations

import time

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp

from .helpers import SIZE, commands, dashboard, live_run


async def _run(db: str) -> str:
    now = time.time()
    started = ev.RunStarted(
        now,
        "steer",
        "steer-plan",
        "x.yaml",
        phases=[{"id": "build", "title": "Build"}, {"id": "ship", "title": "Ship"}],
        tasks=[{"id": "t", "phase": "build", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 2}],
    )
    return await live_run(db, "steer", [started, ev.PhaseStarted(now, "build")])


async def test_slots_and_a_phases_pause_from_the_palette(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        screen.action_slots()
        await pilot.pause()
        await pilot.press(*"b 3", "enter")  # no such agent: explained, nothing sent
        await pilot.pause()
        screen.action_slots()
        await pilot.pause()
        await pilot.press(*"a 0", "enter")  # below one slot: refused
        await pilot.pause()
        screen.action_slots()
        await pilot.pause()
        await pilot.press(*"a 3", "enter")
        await pilot.pause()
        screen.action_hold_phase()
        await pilot.pause()
        await pilot.press(*"ship", "enter")
        await pilot.pause()
    sent = [
        (kind, {k: v for k, v in args.items() if k in ("agent", "slots", "phase")})
        for kind, args in await commands(db, run_id)
    ]
    assert sent == [("slots", {"agent": "a", "slots": 3}), ("pause", {"phase": "ship"})]
