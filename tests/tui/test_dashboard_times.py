"""The dashboard's times agree with the command line's: a run whose engine died is timed to its
last sign of life (`runs`, `show` and reports say the same)."""

from __future__ import annotations

import time

import msgspec

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.engine_lost import EngineLostScreen
from phasegate.tui.dashboard.widgets.header import RunHeader

from .helpers import SIZE, dashboard, text


async def test_an_interrupted_run_is_timed_to_its_last_sign_of_life(
    finished_run: tuple[str, str],
) -> None:
    """Its engine died an hour ago, 4 s into the run (the last event; the last heartbeat was at
    1 s): the header says 4.0s, as `runs` and `show` do, not an hour that grows with the clock."""
    db, _ = finished_run
    t0 = time.time() - 3600
    store = await SQLiteStore.open(db)
    try:
        row = RunRow("gone", "gone-plan", "x.yaml", "running", t0, started_at=t0)
        await store.create_run(
            msgspec.structs.replace(row, engine_pid=1, engine_started=0.5, heartbeat_at=t0 + 1)
        )
        tasks = [{"id": "t", "phase": "p", "agent": "a", "needs": []}]
        events: list[ev.Event] = [
            ev.RunStarted(t0, "gone", "gone-plan", "x.yaml", [{"id": "p"}], tasks, [{"id": "a"}]),
            ev.TaskStarted(t0, "t", 1, "a", 1, 1),
            ev.RunNoted(t0 + 4, "still going", "alice"),
        ]
        await store.write_batch("gone", list(enumerate(events, 1)))
    finally:
        await store.close()
    app = PhasegateApp(db, "gone")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        if isinstance(app.screen, EngineLostScreen):
            await pilot.press("escape")
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
        assert "interrupted" in header and "4.0s" in header, header
        await pilot.press("q")
        await pilot.pause()
