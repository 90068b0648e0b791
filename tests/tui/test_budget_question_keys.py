"""The dashboard's question of a spent budget (`action: ask`) says what `a` does: it extends the
budget, by how much, and resumes the run; its confirmation says so again.

Regression: the prompt said `advice asks the operator` and `a go on`, never that `a` extends
the budget by 2.0s (the headless output said it)."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.question import QuestionPrompt

from .helpers import SIZE, live_run, run_started, text, until_shown
from .helpers import commands as sent_commands

QUESTION = (
    "the budget of task slow is spent (2.1s of 2.0s spent): resume to extend it by 2.0s, "
    "or cancel the run"
)


async def test_the_budget_question_says_a_extends_it_and_by_how_much(tmp_path: Path) -> None:
    db, now = f"{tmp_path}/b.db", time.time()
    events: list[ev.Event] = [
        run_started(now - 5, "spent", ["slow"], agent="w", user=current_identity().user),
        ev.PhaseStarted(now - 5, "p"),
        ev.TaskStarted(now - 5, "slow", 1, "w", 1, 1),
        ev.RiskRaised(
            now - 1, "budget:task slow", "budget", "high", "task slow", "2.1s of 2.0s spent", ""
        ),
        ev.RunPaused(now - 1, "budget", QUESTION, ask="budget:task slow"),
    ]
    run_id = await live_run(db, "spent", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the question", lambda: isinstance(app.screen, QuestionPrompt))
        prompt = app.screen
        shown = " ".join(" ".join(text(w).split()) for w in prompt.query("Vertical, Static"))
        said = "a extends the budget of task slow by 2.0s and resumes the run"
        assert said in shown, shown
        assert "r stops the run" in shown, shown
        await pilot.press("a")
        await pilot.pause()
        shown = " ".join(" ".join(text(w).split()) for w in prompt.query("Static"))
        assert "Extend the budget of task slow by 2.0s and resume the run?" in shown, shown
        await pilot.press("ctrl+s")
        await until_shown(pilot, "the prompt closed", lambda: app.screen is not prompt)
    assert [kind for kind, _ in await sent_commands(db, run_id)] == ["resume"]
