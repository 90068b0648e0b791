"""Contingency actions of risk rules on real runs: a fallback task that stands by until its rule
fires, and a rule that asks the operator whether to go on."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from phasegate.engine.watch.risks import Tuning, findings

from .helpers import command, operated, run_plan, until, write_plan


@pytest.fixture(autouse=True)
def fast_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    from phasegate.engine.run import loop as runner_mod

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
      - {id: slow, run: "sleep 2", estimate: 0.05}
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
        # (answered while its risk holds: once the slow task ends, the rule withdraws it)
        assert runner.state.tasks["slow"].status is TaskStatus.RUNNING
        command(runner, "resume", {})

    state, store = await operated(tmp_path, ASK, operator)
    assert asked["risk"] == "overrun:slow" and asked["by"] == "risk:task_overrun"
    assert "go on or stop" in str(asked["reason"])
    assert state.status is RunStatus.SUCCEEDED and not state.question
    assert state.tasks["next"].status is TaskStatus.SUCCEEDED
    events = [e for _, e in await store.read_events("run1")]
    resumed = [e for e in events if isinstance(e, ev.RunResumed)]
    assert [r.by for r in resumed] == [current_identity().user]


async def test_stopping_at_a_question_cancels_the_run(tmp_path: Path) -> None:
    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: bool(runner.state.question))
        command(runner, "cancel", {"reason": "too slow"})

    state, _ = await operated(tmp_path, ASK, operator)
    assert state.status is RunStatus.CANCELLED and state.reason == "too slow"
    assert state.tasks["slow"].status is TaskStatus.CANCELLED
    assert state.tasks["next"].started_at is None  # never ran: blocked by the cancelled one
    assert not state.question


async def test_a_phases_monitor_checks_only_while_its_phase_is_under_way(tmp_path: Path) -> None:
    text = """
    name: phase-monitor
    agents: {a: {}}
    phases:
      - id: build
        monitors: [{id: hot, run: "echo 95", every: 1, max: 90}]
        tasks: [{id: t, run: "sleep 0.3"}]
      - id: ship
        tasks: [{id: u, run: "sleep 0.3"}]
    """
    state, store = await run_plan(tmp_path, text)
    events = [e for _, e in await store.read_events("run1")]
    # (the machine's own pressure risks may come and go: only the monitor's count here)
    raised = [e for e in events if isinstance(e, ev.RiskRaised) and e.key.startswith("monitor")]
    cleared = [e for e in events if isinstance(e, ev.RiskCleared) and e.key.startswith("monitor")]
    assert [r.key for r in raised] == ["monitor:build.hot"]
    assert raised[0].subject == "monitor build.hot" and raised[0].message == "95, wanted <= 90"
    # it held while build ran, and cleared once ship was under way (not checked there)
    assert [c.key for c in cleared] == ["monitor:build.hot"]
    assert state.phases["ship"].started_at is not None
    assert state.phases["build"].started_at is not None
    assert state.phases["build"].started_at <= raised[0].ts <= state.phases["ship"].started_at
    assert cleared[0].ts >= state.phases["ship"].started_at


def test_thresholds_tuned_per_phase_and_per_task_win_over_the_plans(tmp_path: Path) -> None:

    plan = load_plan(
        str(
            write_plan(
                tmp_path,
                """
    name: tuned
    agents: {a: {slots: 4}}
    risks: {silent_after: 100}
    phases:
      - id: p
        risks: {silent_after: 10, overrun_factor: 2}
        tasks:
          - {id: quick, run: "true", estimate: 10}
          - {id: slow, run: "true", estimate: 10, risks: {overrun_factor: 5, silent_after: 0}}
    """,
            )
        )
    )
    tasks = [
        {"id": t.id, "phase": "p", "agent": "a", "estimate": t.estimate} for _, t in plan.tasks()
    ]
    state = project(
        [
            ev.RunStarted(
                0.0, "r", "tuned", "p.yaml", [{"id": "p"}], tasks, [{"id": "a", "slots": 4}]
            ),
            ev.PhaseStarted(0.0, "p"),
            ev.TaskStarted(0.0, "quick", 1, "a", 1, 1),
            ev.TaskStarted(0.0, "slow", 1, "a", 2, 2),
        ]
    )
    # 30 s in, no output: quick is past 2 x 10 s (the phase's factor) and silent past the
    # phase's 10 s; slow has 5 x 10 s and its silence rule is off
    keys = {f.key for f in findings(state, 30.0, {}, plan.risks, Tuning.of(plan))}
    assert keys == {"overrun:quick", "silent:quick"}
    # without the tuning, the plan's own thresholds: both overrun (factor 1), neither silent
    plain = {f.key for f in findings(state, 30.0, {}, plan.risks)}
    assert plain == {"overrun:quick", "overrun:slow"}
