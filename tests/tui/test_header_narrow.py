"""The run header at 80 columns keeps the elapsed time, what is left and the counts while a
manual gate waits: when the whole line does not fit, it says `gate ID waits 10m00s` instead of
`waiting for gate ID since 10m00s`, cuts a long gate id and the plan's name, keeping some of
each (the run id alone says nothing to who did not start the run)."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.header import RunHeader

from .helpers import SIZE, dashboard, live_run, text


async def test_a_waiting_gate_leaves_room_for_the_times_and_counts(tmp_path: Path) -> None:
    db, now = f"{tmp_path}/h.db", time.time()
    started = ev.RunStarted(
        now - 700,
        "narrow",
        "markup-plan-with-a-really-long-name",
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}],
        tasks=[
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
            {"id": "u", "phase": "q", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "manual-review-gate", "after": "p", "approval": "manual", "quorum": 1}],
    )
    events = [
        started,
        ev.PhaseStarted(now - 700, "p"),
        ev.TaskStarted(now - 700, "t", 1, "a", 1, 1),
        ev.TaskFinished(now - 650, "t", 1, "succeeded", 0),
        ev.GateOpened(now - 600, "manual-review-gate", 1, [], "ab" * 32, "manual"),
        ev.ForecastUpdated(now - 600, 90.0, 0, {"q": 90.0}),
    ]
    run_id = await live_run(db, "narrow", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # (the gate's prompt)
        screen = await dashboard(app, pilot)
        screen.query_one(RunHeader).show(screen.feed.state, run_id, True, now)
        header = text(screen.query_one(RunHeader))
        assert "markup-…  narrow  gate manual-revie… waits 10m" in header, header
        assert "11m" in header and "then ~1m30s" in header and "✓1" in header, header
