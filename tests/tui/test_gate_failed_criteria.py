"""A manual gate whose criteria failed still asks its approvers (people decide), and its prompt
says so plainly: approving passes the gate all the same."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.gate import GatePrompt

from .helpers import SIZE, live_run, text


def _opened(passed: list[bool]) -> list[ev.Event]:
    now = time.time()
    return [
        ev.RunStarted(
            now,
            "gated",
            "gated-plan",
            "x.yaml",
            phases=[{"id": "p"}, {"id": "q"}],
            tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
            agents=[{"id": "a", "slots": 1}],
            gates=[{"id": "review", "after": "p", "approval": "manual", "quorum": 1}],
        ),
        ev.GateOpened(
            now,
            "review",
            1,
            [
                {"kind": "run", "spec": f"check {i}", "passed": ok, "detail": "exit 1"}
                for i, ok in enumerate(passed)
            ],
            "ab" * 32,
            "manual",
        ),
    ]


async def _prompt(tmp_path: Path, passed: list[bool]) -> str:
    db = f"{tmp_path}/g.db"
    run_id = await live_run(db, "gated", _opened(passed))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        return " ".join(text(w) for w in app.screen.query("Static"))


async def test_the_prompt_says_approving_passes_a_gate_whose_criteria_failed(
    tmp_path: Path,
) -> None:
    shown = await _prompt(tmp_path, [True, False, False])
    assert "2 of 3 criteria failed: approving passes the gate all the same" in shown


async def test_no_warning_when_every_criterion_passed(tmp_path: Path) -> None:
    assert "failed" not in await _prompt(tmp_path, [True, True])
