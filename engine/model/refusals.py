"""Why an operator's command on one task is refused, read from the run's state alone: one rule,
said in one set of words, for the engine that carries the command out (engine/run/control.py)
and for the front ends that offer it (a dashboard shows `R Retry` only where the engine would
take it, and its key says the engine's reason where not, before asking anything).

The engine checks more than the state holds (a retried task's needs, as its plan's failure
rules count them; whether its phase is still under way, not only started): those refusals stay
its own, and a front end learns of them from its answer."""

from __future__ import annotations

from typing import Literal

from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import BAD, PhaseStatus

TaskAction = Literal["retry", "skip", "cancel", "priority"]


def task_refusal(state: RunState, action: TaskAction, tid: str) -> str | None:
    """Why the engine refuses `action` on task `tid` of the run in `state`; None when the state
    allows it."""
    t = state.tasks.get(tid)
    if t is None:
        known = ", ".join(sorted(state.tasks)[:20])
        return f"this run has no task '{tid}'; its tasks: {known}"
    if action == "retry":
        if t.status not in BAD:
            return (
                f"task '{tid}' is {t.status.value}: only a failed, timed-out, cancelled or "
                "blocked task can run again"
            )
        phase = state.phases.get(t.phase)
        if phase is None or phase.status is not PhaseStatus.RUNNING:
            return f"task '{tid}' is in phase '{t.phase}', which is not running now"
        return None
    if t.status.terminal:
        return f"task '{tid}' has ended already ({t.status.value})"
    return None
