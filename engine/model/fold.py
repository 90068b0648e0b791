"""apply(state, event): the fold that turns a run's events into its current state (RunState,
engine/model/state.py).

`apply` does no I/O and never reads the clock: every time comes from an event. It updates the
state it is given (the accumulator of the fold) and returns it; `project(events)` folds from a
fresh state. The engine, the CLI, resume and reports all use this same fold.

The handlers, one per event type, live by concern: the work (the run's course, its phases, tasks
and agents) in engine/model/fold_work.py, the oversight (gates, risks, people, changes and
amendments) in engine/model/fold_oversight.py. This module keeps the one table that dispatches
to them, and the fold itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from phasegate.engine.model import events as ev
from phasegate.engine.model import fold_oversight as oversight
from phasegate.engine.model import fold_work as work
from phasegate.engine.model.state import RunState

# Every event type's handler, in one table: the fold is the engine's hot path, so `apply` finds a
# handler with a single lookup, and the handlers are read from their modules once, as the table
# is built, never per event.
_HANDLERS: dict[type[ev.Event], Callable[[RunState, Any], None]] = {
    ev.RunStarted: work.run_started,
    ev.AgentProbed: work.agent_probed,
    ev.AgentReached: work.agent_reached,
    ev.PhaseStarted: work.phase_started,
    ev.PhaseFinished: work.phase_finished,
    ev.TaskReady: work.task_ready,
    ev.TaskStarted: work.task_started,
    ev.TaskFinished: work.task_finished,
    ev.TaskRetrying: work.task_retrying,
    ev.TaskBlocked: work.task_blocked,
    ev.TaskSkipped: work.task_skipped,
    ev.RunFinished: work.run_finished,
    ev.GateOpened: oversight.gate_opened,
    ev.GateVoted: oversight.gate_voted,
    ev.GateClosed: oversight.gate_closed,
    ev.PhaseRewound: oversight.phase_rewound,
    ev.RiskRaised: oversight.risk_raised,
    ev.RiskCleared: oversight.risk_cleared,
    ev.RunNoted: oversight.run_noted,
    ev.RunPaused: work.run_paused,
    ev.AgentSlotsChanged: work.slots_changed,
    ev.RunResumed: work.run_resumed,
    ev.RunRecovered: work.run_recovered,
    ev.ResearchFinished: oversight.research,
    ev.TaskReset: work.task_reset,
    ev.TaskReprioritised: work.reprioritised,
    ev.ForecastUpdated: oversight.forecast,
    ev.TaskStopping: work.task_stopping,
    ev.RunCancelling: work.run_cancelling,
    ev.FallbackCalled: work.fallback_called,
    ev.TaskUsage: work.task_usage,
    ev.TaskHandoff: work.task_handoff,
    ev.BudgetExtended: oversight.budget_extended,
    ev.TaskResults: work.task_results,
    ev.PermissionAsked: oversight.permission_asked,
    ev.PermissionAnswered: oversight.permission_answered,
    ev.ChangeProposed: oversight.change_proposed,
    ev.ChangeClosed: oversight.change_closed,
    ev.PlanAmended: oversight.plan_amended,
    ev.FeedbackAsked: oversight.feedback_asked,
    ev.FeedbackGiven: oversight.feedback_given,
}


def apply(state: RunState, event: ev.Event) -> RunState:
    """Fold one event into the state (in place) and return the state."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(state, event)
    if isinstance(event, ev.CommandDone | ev.GateVoted | ev.GateRefused | ev.FeedbackGiven):
        state.last_command = max(state.last_command, event.command)
    state.events += 1
    state.last_event_at = event.ts
    return state


def project(events: Iterable[ev.Event]) -> RunState:
    """The state a sequence of events leads to, from nothing."""
    state = RunState()
    for e in events:
        apply(state, e)
    return state
