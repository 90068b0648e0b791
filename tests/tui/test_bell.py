"""The dashboard's bell (issue 16, point 11): it rings in the dashboards of the people who may
answer, once per gate attempt or question, and never for the others."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.gate import GatePrompt
from phasegate.tui.dashboard.screens.question import QuestionPrompt

from .helpers import SIZE, live_run, until_shown

ME = current_identity().user


def _started(gate: dict[str, object], user: str = "someone-else") -> ev.RunStarted:
    return ev.RunStarted(
        time.time(),
        "belled",
        "belled-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}, {"id": "q"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        user=user,
        gates=[{"id": "review", "after": "p", "approval": "manual", "quorum": 1, **gate}],
    )


def _opened(attempt: int = 1) -> ev.GateOpened:
    return ev.GateOpened(time.time(), "review", attempt, [], "ab" * 32, "manual")


async def _rings(
    db: str, run_id: str, monkeypatch: pytest.MonkeyPatch, later: Sequence[ev.Event] = ()
) -> tuple[int, type[object]]:
    """Attach a dashboard; append `later` events once it shows the run; how many times the
    bell rang, and the screen on top at the end."""
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen_stack[1]
        assert isinstance(screen, DashboardScreen)
        if later:
            store = await SQLiteStore.open(db)
            try:
                first = len(await store.read_events(run_id)) + 1
                await store.write_batch(run_id, list(enumerate(later, first)))
            finally:
                await store.close()
            await until_shown(
                pilot,
                "the dashboard to read the new events",
                lambda: screen.feed.state.events >= first - 1 + len(later),
            )
            await pilot.pause(0.3)  # a few more drains: nothing rings twice
        top = type(app.screen)
    return len(rang), top


async def test_the_bell_rings_once_for_an_approver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "mine", [_started({"approvers": [ME]}), _opened()])
    more: list[ev.Event] = [ev.RunNoted(time.time(), "still waiting", "x")]
    assert await _rings(db, run_id, monkeypatch, more) == (1, GatePrompt)


async def test_a_new_attempt_of_the_gate_rings_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "again", [_started({"approvers": []}), _opened()])
    rejected = ev.GateClosed(time.time(), "review", "rejected", "flaky")
    rewound = ev.PhaseRewound(time.time(), "p", "review", "flaky")
    rings, _ = await _rings(db, run_id, monkeypatch, [rejected, rewound, _opened(2)])
    assert rings == 2


async def test_no_bell_for_who_may_not_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    other = await live_run(db, "other", [_started({"approvers": ["not-me-at-all"]}), _opened()])
    assert await _rings(db, other, monkeypatch) == (0, DashboardScreen)  # no prompt either
    # the run's starter, when the gate forbids self-approval
    own = [_started({"approvers": [ME], "forbid_self_approval": True}, user=ME), _opened()]
    assert await _rings(db, await live_run(db, "own", own), monkeypatch) == (0, DashboardScreen)


async def test_a_question_rings_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"{tmp_path}/p.db"
    asked = ev.RunPaused(time.time(), "risk:gate_wait", "waited long; go on?", ask="wait:review")
    run_id = await live_run(
        db, "asking", [_started({}, user=ME), ev.TaskStarted(time.time(), "t", 1, "a", 1, 1), asked]
    )
    more: list[ev.Event] = [ev.RunNoted(time.time(), "still asking", "x")]
    assert await _rings(db, run_id, monkeypatch, more) == (1, QuestionPrompt)


async def test_no_bell_for_a_question_who_may_not_operate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    asked = ev.RunPaused(time.time(), "risk:gate_wait", "waited long; go on?", ask="wait:review")
    start = _started({})  # started by someone else, and no roles.operators names this user
    run_id = await live_run(db, "asking", [start, asked])
    rang, _ = await _rings(db, run_id, monkeypatch)
    assert rang == 0
