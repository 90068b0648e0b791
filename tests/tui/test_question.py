"""A risk rule that asks: every attached dashboard prompts like a gate; `a` goes on, `r` stops
the run with a reason, and the prompt closes when the run goes on from elsewhere."""

from __future__ import annotations

import time

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.question import QuestionPrompt

from .helpers import SIZE, commands, live_run, run_started, text, until_shown


async def _asking_run(db: str) -> str:
    """A live run paused by the overrun rule of task `build`, which asks the operator."""
    now = time.time()
    return await live_run(
        db,
        "asking",
        [
            # (who may answer: the starter operates)
            run_started(now, "asking", ["build"], agent="a", user=current_identity().user),
            ev.TaskStarted(now, "build", 1, "a", 1, 1),
            ev.RiskRaised(
                now,
                "overrun:build",
                "task_overrun",
                "medium",
                "task build",
                "running 2m, past its estimate of [b]1m[/b]",
                "check its output",
                {"running_s": 120.0},
            ),
            ev.RunPaused(
                now, "risk:task_overrun", "task build: running 2m; go on?", ask="overrun:build"
            ),
        ],
    )


async def test_the_question_prompts_and_a_goes_on(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _asking_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, QuestionPrompt)
        await pilot.pause()
        shown = " ".join(text(w) for w in app.screen.query("Static"))
        assert "past its estimate of [b]1m[/b]" in shown  # the risk's words, markup inert
        assert "running_s 120.0" in shown and "The run is paused" in shown
        await pilot.press("a", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert [kind for kind, _ in await commands(db, run_id)] == ["resume"]


async def test_r_stops_the_run_with_a_reason(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _asking_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, QuestionPrompt)
        await pilot.press("r", "ctrl+s")  # no reason yet: refused, the prompt stays
        assert isinstance(app.screen, QuestionPrompt)
        await pilot.press(*"hangs", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    sent = [(kind, args.get("reason")) for kind, args in await commands(db, run_id)]
    assert sent == [("cancel", "stopped at a risk's question: hangs")]


async def test_the_prompt_closes_when_the_run_goes_on_elsewhere(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    run_id = await _asking_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, QuestionPrompt)
        store = await SQLiteStore.open(db)
        try:  # another operator answered (phasegate resume): the engine recorded it
            await store.write_batch(run_id, [(5, ev.RunResumed(time.time(), "ops"))])
        finally:
            await store.close()
        await until_shown(
            pilot, "the prompt to close", lambda: isinstance(app.screen, DashboardScreen)
        )
        assert isinstance(app.screen, DashboardScreen)
    assert await commands(db, run_id) == []  # this dashboard sent nothing


async def test_show_names_the_question_and_the_forecast(finished_run: tuple[str, str]) -> None:
    import json

    from phasegate.tui.cli.views import show_run

    db, _ = finished_run
    run_id = await _asking_run(db)
    store = await SQLiteStore.open(db)
    try:
        now = time.time()
        await store.write_batch(run_id, [(5, ev.ForecastUpdated(now, 120.0, 0, {"p": 120.0}))])
    finally:
        await store.close()
    shown = await show_run(db, run_id, as_json=False)
    assert "asks whether to go on (task build: running 2m" in shown
    assert f"`phasegate resume {run_id}` goes on, `phasegate cancel {run_id}` stops" in shown
    assert "forecast ends in ~" in shown and "(p ~" in shown
    data = json.loads(await show_run(db, run_id, as_json=True))
    assert data["question"]["risk"] == "overrun:build"
    assert 110 < data["forecast"]["eta_s"] <= 120 and set(data["forecast"]["phases"]) == {"p"}
