"""The gates screen (`g`) says what a gate is at in the phase panel's words: a gate whose
phase has not ended is `pending` (it said `waiting`, the engine's own word, beside a panel
saying `pending`), an open one `open`, one an ended run never reached `not reached`."""

from __future__ import annotations

import time

from textual.widgets import DataTable

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, live_run, text, until_shown
from .helpers import rows as table_rows


async def test_a_gate_not_reached_is_pending_on_the_gates_screen_as_in_the_panel(
    finished_run: tuple[str, str],
) -> None:
    from phasegate.tui.dashboard.screens.gate import GatesScreen

    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now,
        "gated",
        "gated-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}, {"id": "q"}],
        tasks=[
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
            {"id": "u", "phase": "q", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[
            {"id": "review", "after": "p", "approval": "manual", "approvers": [], "quorum": 1},
            {"id": "later", "after": "q", "approval": "manual", "approvers": [], "quorum": 1},
            {"id": "lint", "after": "q", "approval": "auto", "approvers": [], "quorum": 1},
        ],
    )
    opened = ev.GateOpened(now, "review", 1, [], "ab" * 32, "manual")
    run_id = await live_run(db, "gated", [started, opened])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # (the open gate's prompt)
        assert isinstance(app.screen, DashboardScreen)
        panel = " ".join(text(app.screen.query_one(PhasePanel)).split())
        assert "gate later pending" in panel, panel
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GatesScreen)
        shown = {r[0]: (r[2], r[3]) for r in table_rows(app.screen.query_one(DataTable))}
        # (an automatic gate's OK column says so: `0/1` read as a vote it lacked)
        assert shown == {
            "review": ("open", "0/1"),
            "later": ("pending", "0/1"),
            "lint": ("pending", "auto"),
        }
        await pilot.press("escape")
        store = await SQLiteStore.open(db)
        try:
            stopped = ev.RunFinished(time.time(), "cancelled", "stopped by SIGTERM")
            await store.write_batch(run_id, [(3, stopped)])
        finally:
            await store.close()
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await until_shown(pilot, "the run's end", lambda: screen.feed.state.finished_at is not None)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GatesScreen)
        shown = {r[0]: r[2] for r in table_rows(app.screen.query_one(DataTable))}
        assert shown == {"review": "not decided", "later": "not reached", "lint": "not reached"}
