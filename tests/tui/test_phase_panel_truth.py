"""The phase panel says what the header, `gates` and `show` say.

Regressions: a run cancelled while its last gate waited for another user kept `◆ gate theirs
waiting for approval` in the panel under a `cancelled` header (the panel was redrawn only when
a phase changed, and not at all once the run had ended); while a manual gate waited, the panel
counted the phases' time left down to `~0ms` while the header and `show` kept `then ~7.0s`."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, dashboard, live_run, text, until_shown


def _started(now: float, gate_after: str) -> ev.RunStarted:
    """Two phases of one task each; a manual gate `theirs` after `gate_after`, which only the
    user `daemon` may approve."""
    return ev.RunStarted(
        now,
        "gated",
        "gated-plan",
        "x.yaml",
        phases=[{"id": "p1"}, {"id": "p2"}],
        tasks=[
            {"id": "first", "phase": "p1", "agent": "a", "needs": []},
            {"id": "second", "phase": "p2", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[
            {
                "id": "theirs",
                "after": gate_after,
                "approval": "manual",
                "approvers": ["daemon"],
                "quorum": 1,
            }
        ],
        user="ann",
    )


def _phase_done(now: float, phase: str, task: str) -> list[ev.Event]:
    return [
        ev.PhaseStarted(now, phase),
        ev.TaskStarted(now, task, 1, "a", 1, 1),
        ev.TaskFinished(now + 1, task, 1, "succeeded", 0),
        ev.PhaseFinished(now + 1, phase, "succeeded"),
    ]


async def test_a_run_cancelled_while_its_last_gate_waits_leaves_the_gate_not_decided(
    tmp_path: Path,
) -> None:
    db, now = f"{tmp_path}/c.db", time.time() - 30
    events: list[ev.Event] = [
        _started(now, "p2"),
        *_phase_done(now, "p1", "first"),
        *_phase_done(now + 2, "p2", "second"),
        ev.GateOpened(now + 4, "theirs", 1, [], "ab" * 32, "manual"),
    ]
    run_id = await live_run(db, "gated", events)
    app = PhasegateApp(db, run_id, viewer="ann")
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        panel = screen.query_one(PhasePanel)
        assert "waiting for approval" in text(panel)
        store = await SQLiteStore.open(db)  # `phasegate cancel last`, as the engine records it
        try:
            await store.write_batch(
                run_id, [(len(events) + 1, ev.RunFinished(now + 6, "cancelled", "by ann"))]
            )
        finally:
            await store.close()
        header = screen.query_one(RunHeader)
        await until_shown(pilot, "the run cancelled", lambda: "cancelled" in text(header))
        await pilot.pause()
        shown = text(panel)
        assert "gate theirs" in shown and "not decided" in shown, shown
        assert "waiting" not in shown, shown


async def test_while_a_gate_waits_the_panel_counts_time_left_as_the_header(
    tmp_path: Path,
) -> None:
    db, now = f"{tmp_path}/t.db", 1_700_000_000.0
    events: list[ev.Event] = [
        _started(now, "p1"),
        *_phase_done(now, "p1", "first"),
        # the last forecast: 12 s left, 5 s before the gate opened (then 5 s of waiting)
        ev.ForecastUpdated(now + 1, 12.0, 0, {"p2": 12.0}),
        ev.GateOpened(now + 6, "theirs", 1, [], "ab" * 32, "manual"),
    ]
    run_id = await live_run(db, "gated", events)
    app = PhasegateApp(db, run_id, clock=lambda: now + 11, viewer="ann")
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        header, panel = text(screen.query_one(RunHeader)), text(screen.query_one(PhasePanel))
        # the clock stopped when the gate opened: 12 s less the 5 s before it, in both
        assert "then ~7.0s" in header, header
        row = next(line for line in panel.splitlines() if "p2" in line)
        assert "~7.0s" in row, panel  # (it said ~2.0s, and ~0ms once 12 s had gone by)
