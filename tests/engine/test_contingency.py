"""Contingency actions of risk rules on real runs: a fallback task that stands by until its rule
fires, and a rule that asks the operator whether to go on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine import events as ev
from engine.runner import Runner
from engine.state import RunStatus, TaskStatus
from engine.store import MemoryStore

from .helpers import operated, run_plan, until


@pytest.fixture(autouse=True)
def fast_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import runner as runner_mod

    monkeypatch.setattr(runner_mod, "TICK", 0.02)


FALLBACK = """
name: fallback
agents: {a: {slots: 2}}
risks:
  actions: {task_overrun: {fallback: cleanup}, retry_storm: {fallback: later}}
phases:
  - id: p
    tasks:
      - {id: slow, run: "sleep 0.4", estimate: 0.05}
      - {id: cleanup, run: "echo cleaned"}
  - id: q
    tasks:
      - {id: later, run: "true"}
      - {id: last, run: "true"}
"""


async def test_a_rules_fallback_runs_when_it_fires_and_is_skipped_when_it_does_not(
    tmp_path: Path,
) -> None:
    state, store = await run_plan(tmp_path, FALLBACK)
    assert state.status is RunStatus.SUCCEEDED
    tasks = state.tasks
    # slow ran past its estimate: the overrun rule fired and called cleanup while slow ran
    assert tasks["cleanup"].status is TaskStatus.SUCCEEDED
    assert tasks["cleanup"].started_at is not None and tasks["slow"].finished_at is not None
    assert tasks["cleanup"].started_at < tasks["slow"].finished_at
    # no retry storm: `later` stood by, then was skipped so that its phase could end
    assert tasks["later"].status is TaskStatus.SKIPPED
    assert tasks["later"].reason == "not needed: no retry_storm risk was raised"
    assert tasks["last"].status is TaskStatus.SUCCEEDED
    events = [e for _, e in await store.read_events("run1")]
    done = [(d.kind, d.by, d.ok) for d in events if isinstance(d, ev.CommandDone)]
    assert done == [("fallback", "risk:task_overrun", True)]


async def test_a_fallback_of_a_later_phase_runs_when_that_phase_starts(tmp_path: Path) -> None:
    text = FALLBACK.replace("retry_storm: {fallback: later}", "silent_agent: {fallback: later}")
    text = text.replace("actions:", "silent_after: 0.1\n  actions:")
    state, store = await run_plan(tmp_path, text)
    assert state.status is RunStatus.SUCCEEDED
    assert state.tasks["later"].status is TaskStatus.SUCCEEDED  # called during phase p
    assert state.tasks["later"].started_at is not None
    assert state.phases["q"].started_at is not None
    assert state.tasks["later"].started_at >= state.phases["q"].started_at
    events = [e for _, e in await store.read_events("run1")]
    said = [d.message for d in events if isinstance(d, ev.CommandDone) and d.kind == "fallback"]
    assert "fallback 'later' runs when its phase 'q' starts" in said


ASK = """
name: ask
agents: {a: {slots: 2}}
risks:
  actions: {task_overrun: ask}
phases:
  - id: p
    tasks:
      - {id: slow, run: "sleep 0.3", estimate: 0.05}
      - {id: next, run: "true", needs: [slow]}
"""


async def test_a_rule_that_asks_pauses_the_run_until_the_operator_goes_on(
    tmp_path: Path,
) -> None:
    asked: dict[str, object] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: bool(runner.state.question))
        asked.update(runner.state.question)
        assert runner.state.status is RunStatus.PAUSED
        await until(lambda: runner.state.tasks["slow"].status is TaskStatus.SUCCEEDED)
        assert runner.state.tasks["next"].status is not TaskStatus.RUNNING  # held by the pause
        await store.put_command("run1", "resume", {}, "ops", time.time())

    state, store = await operated(tmp_path, ASK, operator)
    assert asked["risk"] == "overrun:slow" and asked["by"] == "risk:task_overrun"
    assert "go on or stop" in str(asked["reason"])
    assert state.status is RunStatus.SUCCEEDED and not state.question
    assert state.tasks["next"].status is TaskStatus.SUCCEEDED
    events = [e for _, e in await store.read_events("run1")]
    resumed = [e for e in events if isinstance(e, ev.RunResumed)]
    assert [r.by for r in resumed] == ["ops"]


async def test_stopping_at_a_question_cancels_the_run(tmp_path: Path) -> None:
    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: bool(runner.state.question))
        await store.put_command("run1", "cancel", {"reason": "too slow"}, "ops", time.time())

    state, _ = await operated(tmp_path, ASK, operator)
    assert state.status is RunStatus.CANCELLED and state.reason == "too slow"
    assert state.tasks["slow"].status is TaskStatus.CANCELLED
    assert state.tasks["next"].started_at is None  # never ran: blocked by the cancelled one
    assert not state.question
