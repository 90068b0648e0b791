"""Regression (W3, point 1): with `feedback: {at: GATE}`, the gate's opening asks for feedback in
the same update: the gate prompt opened, the feedback got only a toast, and once the gate prompt
was closed (esc, or a decision) the feedback form never appeared. It now opens once the
dashboard is on top again, once (esc on it answers later, as before)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.feedback import FeedbackPrompt
from phasegate.tui.dashboard.screens.gate import GatePrompt

from .helpers import SIZE, live_run, until_shown

ME = current_identity().user


async def _gate_asks_feedback(db: str) -> str:
    """A live run whose manual gate `review` (ME decides it) just opened, asking ME for
    feedback (`feedback: {ask: [ME], at: review}`)."""
    now = time.time()
    started = ev.RunStarted(
        now - 5,
        "fbgate",
        "fbgate-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}, {"id": "q"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "review", "after": "p", "approval": "manual", "approvers": [ME]}],
        feedback={"ask": [ME], "at": "review"},
    )
    events: list[ev.Event] = [
        started,
        ev.GateOpened(now - 1, "review", 1, [], "ab" * 32, "manual"),
        ev.FeedbackAsked(now - 1, "review", [ME]),
    ]
    return await live_run(db, "fbgate", events)


@pytest.mark.parametrize(
    "keys", [("escape",), ("a", "ctrl+s")], ids=["gate left undecided", "gate approved"]
)
async def test_the_feedback_form_opens_once_the_gate_prompt_is_closed(
    tmp_path: Path, keys: tuple[str, ...]
) -> None:
    db = f"{tmp_path}/f.db"
    run_id = await _gate_asks_feedback(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the gate prompt", lambda: isinstance(app.screen, GatePrompt))
        await pilot.press(*keys)
        await until_shown(
            pilot, "the feedback form", lambda: isinstance(app.screen, FeedbackPrompt)
        )
        await pilot.press("escape")  # answered later: the form does not come back
        await until_shown(pilot, "the dashboard", lambda: isinstance(app.screen, DashboardScreen))
        await pilot.pause(0.3)  # (a few drains)
        assert isinstance(app.screen, DashboardScreen)
