"""The run header at 80 columns keeps the elapsed time, what is left and the counts while a
manual gate waits: when the whole line does not fit, it says `gate ID waits 10m00s` instead of
`waiting for gate ID since 10m00s`, cuts a long gate id and the plan's name, keeping some of
each (the run id alone says nothing to who did not start the run)."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.header import RunHeader

from .helpers import SIZE, dashboard, gate_waiting, text


async def test_a_waiting_gate_leaves_room_for_the_times_and_counts(tmp_path: Path) -> None:
    db, now = f"{tmp_path}/h.db", time.time()
    run_id = await gate_waiting(db, "narrow", "markup-plan-with-a-really-long-name", now)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # (the gate's prompt)
        screen = await dashboard(app, pilot)
        screen.query_one(RunHeader).show(screen.feed.state, run_id, True, now)
        header = text(screen.query_one(RunHeader))
        assert "markup-…  narrow  gate manual-revie… waits 10m" in header, header
        assert "11m" in header and "then ~1m30s" in header and "✓1" in header, header
