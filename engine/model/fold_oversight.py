"""The fold's handlers for the oversight (engine/model/fold.py dispatches to them): gates and
their votes, a rejection's rewind, risks, the forecast, notes, extended budgets, permissions,
stakeholder feedback, research, and proposed changes with the plan amendments they make.

Each handler updates the RunState it is given from one event; none does I/O or reads the clock.
"""

from __future__ import annotations

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold_work import read_enum
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
from phasegate.engine.model.statuses import GateStatus, PhaseStatus, Severity, TaskStatus


def gate_opened(s: RunState, e: ev.GateOpened) -> None:
    g = s.gates.get(e.gate)
    if g is not None:
        g.status, g.attempt, g.criteria = GateStatus.OPEN, e.attempt, e.criteria
        g.evidence_hash, g.opened_at, g.closed_at = e.evidence_hash, e.ts, None
        g.approved_by, g.rejected, g.reason = [], "", ""
        # (`auto`: nobody is asked; a manual gate opened so when the run's stop cut its criteria
        # short: undecided, not waiting for people)
        g.approval = e.approval or g.approval


def gate_voted(s: RunState, e: ev.GateVoted) -> None:
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


def gate_closed(s: RunState, e: ev.GateClosed) -> None:
    g = s.gates.get(e.gate)
    if g is not None:
        if g.status is GateStatus.OPEN and g.opened_at is not None:  # (the time it held the run)
            g.waited += max(e.ts - g.opened_at, 0.0)
        g.status = read_enum(GateStatus, e.outcome, s, f"gate '{e.gate}'")
        g.reason, g.closed_at = e.reason, e.ts


def phase_rewound(s: RunState, e: ev.PhaseRewound) -> None:
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


def risk_raised(s: RunState, e: ev.RiskRaised) -> None:
    """A risk raised, or said again while it holds (grown, or with what it says now): then it
    says the new words but keeps the time it was first raised. One that cleared starts anew."""
    severity = read_enum(Severity, e.severity, s, f"risk '{e.key}'")
    known = s.risks.get(e.key)
    first = known.raised_at if known is not None and known.open else e.ts
    s.risks[e.key] = RiskState(
        e.key, e.rule, severity, e.subject, e.message, e.action, first, None, e.evidence
    )


def risk_cleared(s: RunState, e: ev.RiskCleared) -> None:
    risk = s.risks.get(e.key)
    if risk is not None:
        risk.cleared_at = e.ts


def run_noted(s: RunState, e: ev.RunNoted) -> None:
    s.notes.append((e.ts, e.by, e.text))


def forecast(s: RunState, e: ev.ForecastUpdated) -> None:
    s.forecast = {
        "at": e.ts,
        "eta": e.eta,
        "phases": dict(e.phases),
        "guessed": e.guessed,
        "still": e.still,
    }


def research(s: RunState, e: ev.ResearchFinished) -> None:
    s.research[e.research] = {
        "id": e.research,
        "provider": e.provider,
        "query": e.query,
        "results": list(e.results),
        "error": e.error,
    }


def budget_extended(s: RunState, e: ev.BudgetExtended) -> None:
    extra = s.budget_extra.setdefault(e.scope, {})
    for key in ("usd", "tokens", "turns", "seconds"):
        extra[key] = extra.get(key, 0) + getattr(e, key)


def permission_asked(s: RunState, e: ev.PermissionAsked) -> None:
    s.permissions[e.id] = PermissionState(
        e.id, e.task, e.attempt, e.tool, e.detail, e.reason, list(e.approvers), e.ts
    )


def permission_answered(s: RunState, e: ev.PermissionAnswered) -> None:
    p = s.permissions.get(e.id)
    if p is not None:
        p.status, p.by, p.message = ("allowed" if e.allowed else "denied"), e.by, e.message


def feedback_asked(s: RunState, e: ev.FeedbackAsked) -> None:
    if s.feedback_asked is None:
        s.feedback_asked = e.ts


def feedback_given(s: RunState, e: ev.FeedbackGiven) -> None:
    s.feedback_given.append({"ts": e.ts, **e.data()})


def change_proposed(s: RunState, e: ev.ChangeProposed) -> None:
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


def change_closed(s: RunState, e: ev.ChangeClosed) -> None:
    change = s.changes.get(e.change)
    if change is not None:
        outcome = "rejected" if e.outcome == "refused" else e.outcome
        change.status = read_enum(GateStatus, outcome, s, f"change '{e.change}'")
        change.reason, change.closed_at = e.reason, e.ts


def plan_amended(s: RunState, e: ev.PlanAmended) -> None:
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
        # (as the estimate: from history unless an amendment changed the task's work; an
        # amendment recorded before they were carried leaves them as they were)
        if "p90" in t:
            task.p90, task.retry_s = t["p90"], float(t.get("retry_s") or 0.0)
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
