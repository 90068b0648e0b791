"""What going on resumes, and when nothing moves until a person resumes something. Regression: a
risk rule's `pause` action pauses one phase, not the run; front ends read the run's `running`
and showed no sign of it."""

from __future__ import annotations

from phasegate.engine.client import paused_phases, resumes, stalled
from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project

RULE = "risk:task_overrun"
WHY = "task slow: running 999ms, past its estimate of 500ms"

STARTED = ev.RunStarted(
    0.0,
    "r1",
    "plan",
    "x.yaml",
    phases=[{"id": "build"}, {"id": "ship"}],
    tasks=[
        {"id": "slow", "phase": "build", "agent": "a", "needs": []},
        {"id": "next", "phase": "build", "agent": "a", "needs": ["slow"]},
        {"id": "deploy", "phase": "ship", "agent": "a", "needs": ["next"]},
    ],
    agents=[{"id": "a", "slots": 2}],
)
UNDER_WAY = [STARTED, ev.PhaseStarted(0.0, "build"), ev.TaskStarted(0.0, "slow", 1, "a", 1, 1)]
# the rule pauses the phase under way; its running task ends, `next` waits
HELD = [
    *UNDER_WAY,
    ev.RunPaused(1.0, RULE, WHY, "build"),
    ev.TaskFinished(3.0, "slow", 1, "succeeded", 0),
]


def test_a_phase_paused_alone_is_what_going_on_resumes() -> None:
    state = project(HELD)
    assert state.status.value == "running"  # (the run itself is not paused)
    (held,) = paused_phases(state)
    assert (held.id, held.held_by, held.held_reason) == ("build", RULE, WHY)
    assert resumes(state) == [cmd.Resume("build")]
    assert stalled(state)  # nothing runs, nothing starts until it is resumed


def test_while_its_task_runs_the_paused_phase_is_not_stalled() -> None:
    state = project(HELD[:-1])
    assert resumes(state) == [cmd.Resume("build")] and not stalled(state)


def test_a_paused_run_is_resumed_first_as_phasegate_resume_does() -> None:
    state = project([*HELD, ev.RunPaused(4.0, "ann")])
    assert resumes(state) == [cmd.Resume()] and stalled(state)


def test_once_resumed_nothing_is_paused() -> None:
    state = project([*HELD, ev.RunResumed(4.0, "ann", "build")])
    assert resumes(state) == [] and paused_phases(state) == [] and not stalled(state)
    assert (state.phases["build"].held_by, state.phases["build"].held_reason) == ("", "")


def test_a_later_phase_paused_does_not_stall_the_one_under_way() -> None:
    state = project([*UNDER_WAY, ev.TaskFinished(1.0, "slow", 1, "succeeded", 0), _pause("ship")])
    assert resumes(state) == [cmd.Resume("ship")] and not stalled(state)


def test_an_ended_phase_or_run_has_nothing_to_resume() -> None:
    ended = [*HELD, ev.PhaseFinished(5.0, "build", "cancelled")]
    assert paused_phases(project(ended)) == []
    state = project([*ended, ev.RunFinished(6.0, "cancelled")])
    assert resumes(state) == [] and not stalled(state)


def _pause(phase: str) -> ev.RunPaused:
    return ev.RunPaused(2.0, "ann", "", phase)
