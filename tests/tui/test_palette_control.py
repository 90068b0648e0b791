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


PLAN = """name: steer
agents: {a: {slots: 2}}
phases:
  - id: build
    tasks: [{id: t, run: "true"}]
"""


async def test_amend_the_plan_in_your_editor_from_the_palette(
    finished_run: tuple[str, str], tmp_path: object, monkeypatch: object
) -> None:
    import os
    from pathlib import Path

    from phasegate.engine.store import SQLiteStore

    db, _ = finished_run
    run_id = await _run(db)
    store = await SQLiteStore.open(db)
    try:
        await store.save_plan(run_id, PLAN, {})
    finally:
        await store.close()
    edits = Path(str(tmp_path)) / "edit.sh"
    app = PhasegateApp(db, run_id)
    told: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        app.notify = lambda message, **kw: told.append(str(message))  # type: ignore[method-assign]
        for script in (
            "true",  # saved unchanged: nothing sent
            "printf 'phases: [\\n' > \"$1\"",  # broken YAML: explained, nothing sent
            'sed -i \'s/tasks: \\[{id: t, run: "true"}\\]/tasks: [{id: t, run: "true"}, '
            '{id: u, run: "true"}]/\' "$1"',
        ):
            edits.write_text(f"#!/bin/sh\n{script}\n")
            edits.chmod(0o755)
            os.environ["EDITOR"] = str(edits)
            try:
                await screen.action_amend()
            finally:
                del os.environ["EDITOR"]
            await pilot.pause()
    assert told[0] == "the plan is unchanged: nothing sent"
    assert told[1].startswith("the plan has problems, nothing sent: ")
    sent = await commands(db, run_id)
    assert [kind for kind, _ in sent] == ["amend"]
    assert '{id: u, run: "true"}' in str(sent[0][1]["text"])
