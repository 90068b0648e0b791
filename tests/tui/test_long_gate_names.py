"""At 80x24 a gate's name gets the room it needs first, and is cut with an ellipsis, not bare.

Regression: the phase panel showed `◆ gate r… 0/2 waiting for approval` for the gate `review`
(its status words took the room); the gates screen (`g`) clipped ids to `security-rev` while
its WHY column stood empty; the header dropped the plan's name whole while a gate with a long
id waited.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from textual.widgets import DataTable

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.gate import GatePrompt, GatesScreen
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, dashboard, live_run, text, until_shown

LONG = "security-review-by-two-people"


async def _waiting(db: str, gate: str, phase: str = "build", plan: str = "ops") -> str:
    now = time.time()
    started = ev.RunStarted(
        now - 60,
        "gated",
        plan,
        "x.yaml",
        phases=[{"id": phase}, {"id": "ship"}],
        tasks=[
            {"id": "t", "phase": phase, "agent": "a", "needs": []},
            {"id": "u", "phase": "ship", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": gate, "after": phase, "approval": "manual", "quorum": 2}],
    )
    events = [
        started,
        ev.PhaseStarted(now - 60, phase),
        ev.TaskStarted(now - 60, "t", 1, "a", 1, 1),
        ev.TaskFinished(now - 50, "t", 1, "succeeded", 0),
        ev.GateOpened(now - 40, gate, 1, [], "ab" * 32, "manual"),
    ]
    return await live_run(db, "gated", events)


async def _dashboard_under_prompt(app: PhasegateApp, pilot: object) -> None:
    await until_shown(pilot, "the gate's prompt", lambda: isinstance(app.screen, GatePrompt))
    await pilot.press("escape")  # type: ignore[attr-defined]


async def test_a_short_gate_name_is_whole_beside_its_approvals(tmp_path: Path) -> None:
    db = f"{tmp_path}/r.db"
    run_id = await _waiting(db, "review")
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await _dashboard_under_prompt(app, pilot)
        screen = await dashboard(app, pilot)
        panel = text(screen.query_one(PhasePanel))
        assert "◆ gate review" in panel and "0/2 waiting" in panel, panel


async def test_a_long_gate_name_takes_the_room_and_ends_with_an_ellipsis(tmp_path: Path) -> None:
    db = f"{tmp_path}/l.db"
    run_id = await _waiting(
        db, LONG, phase="build-and-unit-test-everything", plan="long-gate-names-plan"
    )
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await _dashboard_under_prompt(app, pilot)
        screen = await dashboard(app, pilot)
        panel = text(screen.query_one(PhasePanel))
        assert "◆ gate security-revie…" in panel and "0/2 waiting" in panel, panel

        def fitted() -> bool:  # (the compact line, fitted to 80 columns)
            return "waits" in text(screen.query_one(RunHeader))

        await until_shown(pilot, "the header at its width", fitted)
        header = text(screen.query_one(RunHeader))
        assert "long-ga" in header and "gate security-re" in header, header
        # (the times and counts stay; the elapsed time is a minute and what the test took)
        assert re.search(r"\b1m\d\ds\b", header) and "✓1" in header, header
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GatesScreen)
        table = text(app.screen.query_one("#gates", DataTable))
        assert LONG in table, table  # whole: the empty WHY column gave it the room
        assert "build…" in table, table  # the phase, cut with an ellipsis


async def test_a_phase_title_of_several_lines_stays_on_its_row(tmp_path: Path) -> None:
    # (a YAML `title: |` spilled onto a second row of the panel, under the next phase's name)
    db = str(tmp_path / "x.db")
    now = time.time()
    started = ev.RunStarted(
        now - 5,
        "titled",
        "titled-plan",
        "x.yaml",
        phases=[{"id": "build", "title": "Build\nand [b]test[/b]"}, {"id": "ship"}],
        tasks=[{"id": "t", "phase": "build", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
    )
    run_id = await live_run(db, "titled", [started, ev.PhaseStarted(now - 5, "build")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        rows = [line for line in text(screen.query_one(PhasePanel)).splitlines() if line.strip()]
        assert any("Build and [b]test[/b]" in row for row in rows), rows
        assert not any(row.strip().startswith("and") for row in rows), rows
