"""The dashboard's prompts never act on keys typed for something else (a tester's report): a
gate, a risk rule's question or an agent's request that comes while the task filter is typed
waits until the filter is left (a notice says so); at a prompt, a key only asks to confirm and
a word plus enter decides nothing (ctrl+s confirms); who may not decide a gate sees it, read-only,
from `g`, with no approve or reject."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from textual.widgets import Input

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.gate import GatePrompt, GatesScreen
from phasegate.tui.dashboard.screens.permission import PermissionPrompt
from phasegate.tui.dashboard.screens.question import QuestionPrompt
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import _TAKEN, SIZE, commands, live_run, run_started, text, until_shown

ME = current_identity().user


def _gated(approvers: Sequence[str] = ()) -> list[ev.Event]:
    """A run of one task (done) then a manual gate `review` (not open yet)."""
    now = time.time()
    gate = {"id": "review", "after": "p", "approval": "manual", "approvers": list(approvers)}
    return [
        run_started(now, "typing", ["t1"], user=ME, gates=[{**gate, "quorum": 1}]),
        ev.TaskStarted(now, "t1", 1, "m", 1, 1),
    ]


def _gate_opened() -> ev.GateOpened:
    return ev.GateOpened(time.time(), "review", 1, [], "ab" * 32, "manual")


def _asked() -> list[ev.Event]:
    """A risk rule that asks: the run paused, asking whether to go on."""
    now = time.time()
    return [
        ev.RiskRaised(
            now, "rate", "failure_rate", "high", "phase p", "4 of 5 failed", "", {"rate": 0.8}
        ),
        ev.RunPaused(now, "risk:failure_rate", "4 of 5 failed; go on?", ask="rate"),
    ]


async def _append(db: str, run_id: str, events: Sequence[ev.Event]) -> None:
    store = await SQLiteStore.open(db)
    try:
        first = len(await store.read_events(run_id)) + 1
        await store.write_batch(run_id, list(enumerate(events, first)))
    finally:
        await store.close()


def _sent(db: str, run_id: str) -> list[str]:
    """The kinds of the commands the run's socket took so far (`commands` takes them once)."""
    return [kind for kind, _, _ in _TAKEN.get((db, run_id), [])]


def _shown(app: PhasegateApp) -> str:
    return "\n".join(text(w) for w in app.screen.query("Vertical, Static"))


async def _filter_while(
    pilot: object, app: PhasegateApp, news: Awaitable[None], arrives: Callable[[], bool]
) -> str:
    """Type `status failed` into the task filter slowly, `news` coming mid-word (`arrives`: it
    reached the dashboard), then enter, as the tester did; the filter's text then."""
    press = pilot.press  # type: ignore[attr-defined]
    await press("slash", *"stat")
    await news
    await until_shown(pilot, "the news", arrives)
    # (mid-word: the prompt waits, the keys go on into the filter)
    assert isinstance(app.screen, DashboardScreen)
    assert isinstance(app.screen.focused, Input)
    await press(*"us failed", "enter")
    await until_shown(pilot, "the filter left", lambda: not isinstance(app.focused, Input))
    return app.screen_stack[1].query_one(TaskTable).filter_text


@pytest.mark.slow
async def test_a_gate_that_opens_while_filtering_waits_and_typed_words_approve_nothing(
    tmp_path: Path,
) -> None:
    db = f"{tmp_path}/g.db"
    run_id = await live_run(db, "typing", _gated())
    app = PhasegateApp(db, run_id)
    said: list[str] = []
    app.notify = lambda message, **_: said.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        feed = app.screen.feed
        await _append(
            db, run_id, [ev.TaskFinished(time.time(), "t1", 1, "succeeded", 0), _gate_opened()]
        )

        def opened() -> bool:
            g = feed.state.gates.get("review")
            return g is not None and g.status == "open"

        done = ev.TaskFinished(time.time(), "t1", 1, "succeeded", 0)
        news = _append(db, run_id, [done, _gate_opened()])
        assert await _filter_while(pilot, app, news, opened) == "status failed"
        assert any("review waits for a decision" in s and "leave the filter" in s for s in said)
        # the filter left: now the prompt opens, and a word typed then decides nothing
        await until_shown(pilot, "the prompt", lambda: isinstance(app.screen, GatePrompt))
        await pilot.press(*"note mark", "enter")
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and app.screen.asking
        assert _sent(db, run_id) == []
        await pilot.press("escape", "r", *"flaky", "enter")  # a rejection: no stray word either
        await pilot.pause()
        assert _sent(db, run_id) == []
        await pilot.press("ctrl+s")  # the deliberate step
        await until_shown(
            pilot, "the prompt closed", lambda: not isinstance(app.screen, GatePrompt)
        )
    assert await commands(db, run_id) == [("reject", {"gate": "review", "reason": "flaky"})]


async def test_approving_needs_ctrl_s_not_enter(tmp_path: Path) -> None:
    db = f"{tmp_path}/g.db"
    run_id = await live_run(db, "typing", [*_gated(), _gate_opened()])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the prompt", lambda: isinstance(app.screen, GatePrompt))
        await pilot.press(*"data", "enter")  # (a word ending in `a`, then enter)
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and app.screen.asking
        assert "ctrl+s confirms" in _shown(app)
        assert _sent(db, run_id) == []
        assert app.screen.query_one("#reason", Input).value == "ta"  # (shown, not sent)
        await pilot.press("ctrl+s")  # the deliberate step
        await until_shown(
            pilot, "the prompt closed", lambda: not isinstance(app.screen, GatePrompt)
        )
    assert await commands(db, run_id) == [("approve", {"gate": "review", "reason": "ta"})]


@pytest.mark.slow
async def test_a_risk_question_asked_while_filtering_is_not_answered_by_its_letters(
    tmp_path: Path,
) -> None:
    db = f"{tmp_path}/q.db"
    run_id = await live_run(db, "typing", _gated())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        feed = app.screen.feed
        news = _append(db, run_id, _asked())
        asked = await _filter_while(pilot, app, news, lambda: bool(feed.state.question))
        assert asked == "status failed"
        await until_shown(pilot, "the question", lambda: isinstance(app.screen, QuestionPrompt))
        assert _sent(db, run_id) == []
        await pilot.press("a")  # asks to confirm: the run does not go on yet
        await pilot.pause()
        assert isinstance(app.screen, QuestionPrompt) and app.screen.asking
        await pilot.press(*"status", "enter")
        await pilot.pause()
        assert _sent(db, run_id) == []
        await pilot.press("ctrl+s")
        await until_shown(
            pilot, "the prompt closed", lambda: isinstance(app.screen, DashboardScreen)
        )
    assert [kind for kind, _ in await commands(db, run_id)] == ["resume"]


async def test_a_stray_a_does_not_allow_an_agent_s_tool(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    now = time.time()
    asked = ev.PermissionAsked(now, "t1-1-p1", "t1", 1, "Bash", "rm -rf build", "stale", [])
    run_id = await live_run(db, "typing", [*_gated(), asked])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the request", lambda: isinstance(app.screen, PermissionPrompt))
        await pilot.press(*"data", "enter", "A")
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt) and app.screen.asking
        assert _sent(db, run_id) == []
        await pilot.press("ctrl+s")
        await until_shown(
            pilot, "the prompt closed", lambda: isinstance(app.screen, DashboardScreen)
        )
    assert await commands(db, run_id) == [("approve", {"gate": "t1-1-p1"})]


async def test_who_may_not_decide_a_gate_sees_it_from_g_without_a_or_r(tmp_path: Path) -> None:
    db = f"{tmp_path}/g.db"
    run_id = await live_run(db, "typing", [*_gated(["daemon"]), _gate_opened()])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)  # (no prompt: told whom it waits for)
        await pilot.press("g", "enter")
        await until_shown(pilot, "the gate", lambda: isinstance(app.screen, GatePrompt))
        shown = _shown(app)
        assert "only daemon may decide it" in shown and "waits for its approvers" in shown
        assert "a approve" not in shown and "r reject" not in shown
        await pilot.press("a", "enter", "ctrl+s", "r", *"no", "enter", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and not app.screen.asking
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert not isinstance(app.screen_stack[-1], GatesScreen)
    assert await commands(db, run_id) == []
