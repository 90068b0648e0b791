"""apply(state, event): the fold that turns a run's events into its current state (RunState,
engine/model/state.py).

`apply` does no I/O and never reads the clock: every time comes from an event. It updates the
state it is given (the accumulator of the fold) and returns it; `project(events)` folds from a
fresh state. The engine, the CLI, resume and reports all use this same fold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from phasegate.engine.model import events as ev
from phasegate.engine.model.state import (
    AgentState,
    ChangeState,
    GateState,
    PermissionState,
    PhaseState,
    RiskState,
    RunState,
    TaskState,
)
from phasegate.engine.model.statuses import (
    AgentStatus,
    GateStatus,
    PhaseStatus,
    RunStatus,
    Severity,
    TaskStatus,
)

E = TypeVar("E", TaskStatus, RunStatus, PhaseStatus, GateStatus, Severity)


def _read(kind: type[E], value: str, s: RunState, where: str) -> E:
    """A stored value as its enum; one this phasegate does not know becomes UNKNOWN, and the
    fold reports it in `anomalies` instead of raising."""
    try:
        return kind(value)
    except ValueError:
        s.anomalies.append(f"{where}: unknown {kind.__name__} {value!r}")
        return kind("unknown")


def _run_started(s: RunState, e: ev.RunStarted) -> None:
    s.run_id, s.plan_name, s.plan_path = e.run_id, e.plan_name, e.plan_path
    s.user, s.host, s.operators = e.user, e.host, list(e.operators)
    s.repo, s.base_commit = e.repo, e.base_commit
    s.feedback_plan = dict(e.feedback)
    s.status, s.started_at = RunStatus.RUNNING, e.ts
    for p in e.phases:
        s.phases[p["id"]] = PhaseState(p["id"], p.get("title") or "", p.get("timebox"))
    for t in e.tasks:
        s.tasks[t["id"]] = TaskState(
            id=t["id"],
            phase=t["phase"],
            agent=t.get("agent"),
            capability=t.get("capability"),
            needs=tuple(t.get("needs") or ()),
            estimate=t.get("estimate"),
            p90=t.get("p90"),
            retry_s=float(t.get("retry_s") or 0.0),
            priority=int(t.get("priority") or 0),
        )
    for a in e.agents:
        s.agents[a["id"]] = AgentState(a["id"], int(a.get("slots", 1)))
    for g in e.gates:
        s.gates[g["id"]] = GateState(
            g["id"],
            g["after"],
            g.get("approval", "manual"),
            tuple(g.get("approvers") or ()),
            int(g.get("quorum", 1)),
            bool(g.get("forbid_self_approval", False)),
        )


def _agent_probed(s: RunState, e: ev.AgentProbed) -> None:
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.status = AgentStatus.IDLE if e.ready else AgentStatus.NOT_READY
        agent.detail = e.detail


def _agent_reached(s: RunState, e: ev.AgentReached) -> None:
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.host, agent.rtt_ms = e.host, e.rtt_ms if e.ok else None
        agent.unreachable = "" if e.ok else e.detail or "unreachable"


def _phase_started(s: RunState, e: ev.PhaseStarted) -> None:
    phase = s.phases.get(e.phase)
    if phase is not None:
        phase.status, phase.started_at = PhaseStatus.RUNNING, e.ts


def _phase_finished(s: RunState, e: ev.PhaseFinished) -> None:
    phase = s.phases.get(e.phase)
    if phase is not None:
        status = _read(PhaseStatus, e.status, s, f"phase '{e.phase}'")
        phase.status, phase.finished_at = status, e.ts


# A task event naming a task that RunStarted did not list (a newer engine that adds tasks, a
# damaged database) is ignored, as events for unknown phases and agents are: the fold never
# raises on stored data, or one odd row would make a run impossible to show.


def _task_ready(s: RunState, e: ev.TaskReady) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.status = TaskStatus.READY


def _task_started(s: RunState, e: ev.TaskStarted) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    # attempts only grow: a late or replayed start of an older attempt does not rewind the count
    t.status, t.attempts, t.agent, t.pid, t.proc_started = (
        TaskStatus.RUNNING,
        max(t.attempts, e.attempt),
        e.agent,
        e.pid,
        e.proc_started,
    )
    if e.attempt == 1 or t.started_at is None:
        t.started_at = e.ts
    if e.attempt >= t.attempts:  # (a replayed start of an older attempt changes nothing)
        t.attempt_started_at = e.ts
    t.finished_at = t.exit_code = None
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.running.add(e.task)
        agent.status = AgentStatus.BUSY


def _release(s: RunState, t: TaskState) -> None:
    agent = s.agents.get(t.agent) if t.agent else None
    if agent is not None and t.id in agent.running:
        agent.running.discard(t.id)
        if not agent.running and agent.status is AgentStatus.BUSY:
            agent.status = AgentStatus.IDLE


def _task_finished(s: RunState, e: ev.TaskFinished) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status = _read(TaskStatus, e.status, s, f"task '{e.task}'")
    t.stopping = t.stop_reason = ""
    t.finished_at, t.exit_code, t.reason, t.pid = e.ts, e.exit_code, e.reason, None
    t.lines += e.lines
    t.dropped += e.dropped
    if t.status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT):
        t.failures += 1
    _release(s, t)


def _task_retrying(s: RunState, e: ev.TaskRetrying) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status, t.reason = TaskStatus.READY, e.reason


def _task_blocked(s: RunState, e: ev.TaskBlocked) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status, t.reason = TaskStatus.BLOCKED, e.reason


def _task_skipped(s: RunState, e: ev.TaskSkipped) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status, t.reason = TaskStatus.SKIPPED, e.reason
    t.finished_at = e.ts
    t.stopping = t.stop_reason = ""
    _release(s, t)


def _run_finished(s: RunState, e: ev.RunFinished) -> None:
    s.status = _read(RunStatus, e.status, s, "run")
    s.reason, s.finished_at = e.reason, e.ts
    s.question = {}


def _gate_opened(s: RunState, e: ev.GateOpened) -> None:
    g = s.gates.get(e.gate)
    if g is not None:
        g.status, g.attempt, g.criteria = GateStatus.OPEN, e.attempt, e.criteria
        g.evidence_hash, g.opened_at, g.closed_at = e.evidence_hash, e.ts, None
        g.approved_by, g.rejected, g.reason = [], "", ""


def _gate_voted(s: RunState, e: ev.GateVoted) -> None:
    g = s.gates.get(e.gate)
    if g is None:
        change = s.changes.get(e.gate)
        if change is not None and e.decision == "approve" and e.user not in change.approved_by:
            change.approved_by.append(e.user)
        return
    if e.decision == "reject":
        g.rejected = g.rejected or f"rejected by {e.user}: {e.reason}"
    elif e.decision == "approve" and e.user not in g.approved_by:
        g.approved_by.append(e.user)


def _gate_closed(s: RunState, e: ev.GateClosed) -> None:
    g = s.gates.get(e.gate)
    if g is not None:
        g.status = _read(GateStatus, e.outcome, s, f"gate '{e.gate}'")
        g.reason, g.closed_at = e.reason, e.ts


def _phase_rewound(s: RunState, e: ev.PhaseRewound) -> None:
    s.feedback = e.reason
    again = False
    for phase in s.phases.values():
        again = again or phase.id == e.phase
        if again:
            phase.status, phase.finished_at = PhaseStatus.PENDING, None
    rerun = {p for p, ph in s.phases.items() if ph.status is PhaseStatus.PENDING}
    for t in s.tasks.values():
        if t.phase in rerun:
            t.status, t.reason, t.exit_code, t.finished_at = TaskStatus.PENDING, "", None, None
    for g in s.gates.values():
        if g.after in rerun:
            g.status = GateStatus.WAITING


def _risk_raised(s: RunState, e: ev.RiskRaised) -> None:
    severity = _read(Severity, e.severity, s, f"risk '{e.key}'")
    s.risks[e.key] = RiskState(
        e.key, e.rule, severity, e.subject, e.message, e.action, e.ts, None, e.evidence
    )


def _risk_cleared(s: RunState, e: ev.RiskCleared) -> None:
    risk = s.risks.get(e.key)
    if risk is not None:
        risk.cleared_at = e.ts


def _run_noted(s: RunState, e: ev.RunNoted) -> None:
    s.notes.append((e.ts, e.by, e.text))


def _slots_changed(s: RunState, e: ev.AgentSlotsChanged) -> None:
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.slots = e.slots


def _run_paused(s: RunState, e: ev.RunPaused) -> None:
    if e.phase:
        if e.phase in s.phases:
            s.phases[e.phase].held = True
    elif s.status is RunStatus.RUNNING:
        s.status = RunStatus.PAUSED
    if e.ask and not e.phase:
        s.question = {"risk": e.ask, "by": e.by, "reason": e.reason, "at": e.ts}


def _run_resumed(s: RunState, e: ev.RunResumed) -> None:
    if e.phase:
        if e.phase in s.phases:
            s.phases[e.phase].held = False
    elif s.status is RunStatus.PAUSED:
        s.status = RunStatus.RUNNING
    if not e.phase:
        s.question = {}


def _run_recovered(s: RunState, e: ev.RunRecovered) -> None:
    if s.status is not RunStatus.PAUSED:  # a paused run stays paused, its question asked
        s.status, s.question = RunStatus.RUNNING, {}
    s.reason, s.finished_at = "", None
    for entry in e.tasks:
        t = s.tasks.get(str(entry.get("task")))
        if t is None:
            continue
        t.attempts = max(t.attempts, int(entry.get("attempt") or 0))
        action = entry.get("action")
        if action == "adopted":
            t.status = TaskStatus.RUNNING
            continue
        _release(s, t)
        t.pid = None
        if action == "skipped":
            t.status, t.reason, t.finished_at = TaskStatus.SKIPPED, "skipped on resume", e.ts
        else:
            t.status, t.reason = TaskStatus.PENDING, "rerun after the engine stopped"


def _task_stopping(s: RunState, e: ev.TaskStopping) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.stopping, t.stop_reason = e.status, e.reason


def _fallback_called(s: RunState, e: ev.FallbackCalled) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.called = True


def _run_cancelling(s: RunState, e: ev.RunCancelling) -> None:
    s.cancelling = e.reason


def _forecast(s: RunState, e: ev.ForecastUpdated) -> None:
    s.forecast = {
        "at": e.ts,
        "eta": e.eta,
        "phases": dict(e.phases),
        "guessed": e.guessed,
        "still": e.still,
    }


def _reprioritised(s: RunState, e: ev.TaskReprioritised) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.priority = e.priority


def _task_reset(s: RunState, e: ev.TaskReset) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.status, t.reason, t.finished_at, t.exit_code = TaskStatus.PENDING, e.reason, None, None


def _research(s: RunState, e: ev.ResearchFinished) -> None:
    s.research[e.research] = {
        "id": e.research,
        "provider": e.provider,
        "query": e.query,
        "results": list(e.results),
        "error": e.error,
    }


def _task_usage(s: RunState, e: ev.TaskUsage) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    for key in ("input_tokens", "output_tokens", "cached_tokens", "cost_usd", "turns"):
        t.usage[key] = t.usage.get(key, 0) + getattr(e, key)
        s.usage[key] = s.usage.get(key, 0) + getattr(e, key)
    if e.cost_source and e.cost_usd:  # (how the run's dollars were known: reported, priced)
        sources = s.usage.setdefault("cost_sources", [])
        if e.cost_source not in sources:
            sources.append(e.cost_source)
    if e.cost_source:
        t.usage["cost_source"] = e.cost_source
    t.session_id = e.session_id or t.session_id


def _task_results(s: RunState, e: ev.TaskResults) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        keys = ("attempt", "passed", "failed", "skipped", "errors", "source", "error")
        t.results = {k: getattr(e, k) for k in keys} | {"failures": list(e.failures)}


def _budget_extended(s: RunState, e: ev.BudgetExtended) -> None:
    extra = s.budget_extra.setdefault(e.scope, {})
    for key in ("usd", "tokens", "turns", "seconds"):
        extra[key] = extra.get(key, 0) + getattr(e, key)


def _task_handoff(s: RunState, e: ev.TaskHandoff) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        keys = ("attempt", "branch", "commit", "files", "insertions", "deletions", "patch", "error")
        t.handoff = {k: getattr(e, k) for k in keys}


def _permission_asked(s: RunState, e: ev.PermissionAsked) -> None:
    s.permissions[e.id] = PermissionState(
        e.id, e.task, e.attempt, e.tool, e.detail, e.reason, list(e.approvers), e.ts
    )


def _permission_answered(s: RunState, e: ev.PermissionAnswered) -> None:
    p = s.permissions.get(e.id)
    if p is not None:
        p.status, p.by, p.message = ("allowed" if e.allowed else "denied"), e.by, e.message


def _feedback_asked(s: RunState, e: ev.FeedbackAsked) -> None:
    if s.feedback_asked is None:
        s.feedback_asked = e.ts


def _feedback_given(s: RunState, e: ev.FeedbackGiven) -> None:
    s.feedback_given.append({"ts": e.ts, **e.data()})


def _change_proposed(s: RunState, e: ev.ChangeProposed) -> None:
    s.changes[e.change] = ChangeState(
        e.change,
        e.by,
        list(e.diff),
        dict(e.impact),
        tuple(e.approvers),
        e.ts,
        restart=list(e.restart),
        text=e.text,
        path=e.path,
    )


def _change_closed(s: RunState, e: ev.ChangeClosed) -> None:
    change = s.changes.get(e.change)
    if change is not None:
        outcome = "rejected" if e.outcome == "refused" else e.outcome
        change.status = _read(GateStatus, outcome, s, f"change '{e.change}'")
        change.reason, change.closed_at = e.reason, e.ts


def _plan_amended(s: RunState, e: ev.PlanAmended) -> None:
    """The run's shape after an amendment: tasks, phases, gates and agents gained, lost or
    changed (what has run keeps its state: an amendment never touches it)."""
    s.amendments.append(
        {
            "change": e.change,
            "version": e.plan_version,
            "at": e.ts,
            "by": e.by,
            "diff": list(e.diff),
        }
    )
    s.operators = list(e.operators)
    phases: dict[str, PhaseState] = {}
    for p in e.phases:
        phase = s.phases.get(p["id"]) or PhaseState(p["id"])
        phase.title, phase.timebox = p.get("title") or "", p.get("timebox")
        phases[p["id"]] = phase
    s.phases = phases
    tasks: dict[str, TaskState] = {}
    for t in e.tasks:
        task = s.tasks.get(t["id"]) or TaskState(id=t["id"], phase=t["phase"])
        task.phase, task.capability = t["phase"], t.get("capability")
        task.needs, task.estimate = tuple(t.get("needs") or ()), t.get("estimate")
        if task.status.value == "pending":
            task.agent = t.get("agent")
        if t["id"] not in s.tasks:
            task.priority = int(t.get("priority") or 0)
        tasks[t["id"]] = task
    s.tasks = tasks
    gates: dict[str, GateState] = {}
    for g in e.gates:
        gate = s.gates.get(g["id"]) or GateState(g["id"], g["after"])
        gate.after, gate.approval = g["after"], g.get("approval", "manual")
        gate.approvers, gate.quorum = tuple(g.get("approvers") or ()), int(g.get("quorum", 1))
        gate.forbid_self_approval = bool(g.get("forbid_self_approval", False))
        gates[g["id"]] = gate
    s.gates = gates
    for a in e.agents:
        agent = s.agents.setdefault(a["id"], AgentState(a["id"]))
        agent.slots = int(a.get("slots", agent.slots))


_HANDLERS: dict[type[ev.Event], Callable[[RunState, Any], None]] = {
    ev.RunStarted: _run_started,
    ev.AgentProbed: _agent_probed,
    ev.AgentReached: _agent_reached,
    ev.PhaseStarted: _phase_started,
    ev.PhaseFinished: _phase_finished,
    ev.TaskReady: _task_ready,
    ev.TaskStarted: _task_started,
    ev.TaskFinished: _task_finished,
    ev.TaskRetrying: _task_retrying,
    ev.TaskBlocked: _task_blocked,
    ev.TaskSkipped: _task_skipped,
    ev.RunFinished: _run_finished,
    ev.GateOpened: _gate_opened,
    ev.GateVoted: _gate_voted,
    ev.GateClosed: _gate_closed,
    ev.PhaseRewound: _phase_rewound,
    ev.RiskRaised: _risk_raised,
    ev.RiskCleared: _risk_cleared,
    ev.RunNoted: _run_noted,
    ev.RunPaused: _run_paused,
    ev.AgentSlotsChanged: _slots_changed,
    ev.RunResumed: _run_resumed,
    ev.RunRecovered: _run_recovered,
    ev.ResearchFinished: _research,
    ev.TaskReset: _task_reset,
    ev.TaskReprioritised: _reprioritised,
    ev.ForecastUpdated: _forecast,
    ev.TaskStopping: _task_stopping,
    ev.RunCancelling: _run_cancelling,
    ev.FallbackCalled: _fallback_called,
    ev.TaskUsage: _task_usage,
    ev.TaskHandoff: _task_handoff,
    ev.BudgetExtended: _budget_extended,
    ev.TaskResults: _task_results,
    ev.PermissionAsked: _permission_asked,
    ev.PermissionAnswered: _permission_answered,
    ev.ChangeProposed: _change_proposed,
    ev.ChangeClosed: _change_closed,
    ev.PlanAmended: _plan_amended,
    ev.FeedbackAsked: _feedback_asked,
    ev.FeedbackGiven: _feedback_given,
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
