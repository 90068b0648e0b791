"""The content of each report kind, as plain data (rendered to Markdown, HTML, JSON, JUnit by
render.py): coordination plan, QA report, performance report, lessons learned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.events_oversight import UNDECIDED
from phasegate.engine.plan.amend import change_lines
from phasegate.engine.plan.template import substitute
from phasegate.engine.report.facts import (
    BAD,
    FAILED_ENDS,
    INTERRUPTED,
    NOT_DECIDED,
    NOT_REACHED,
    Facts,
    actual_critical_path,
    busy_seconds,
)
from phasegate.engine.watch.history import Learned
from phasegate.engine.watch.simulate import projected

if TYPE_CHECKING:  # (annotations only: reading a run needs no plan model)
    from phasegate.engine.plan.model import Plan

KINDS = ("coordination", "qa", "performance", "lessons")
FAR_OFF = 1.5  # a task this many times its estimate (or under 1/FAR_OFF of it) is a finding


def times(ratio: float) -> str:
    """A ratio of durations as a reader takes it in: `3.2x`, `0.4x`, `0.04x` (never `0.0x`)."""
    if ratio >= 0.1:
        return f"{ratio:.1f}x"
    if ratio >= 0.01:
        return f"{ratio:.2f}x"
    return "under 0.01x"


def filled(text: str, values: Mapping[str, str], task: str = "") -> str:
    """A plan string with the run's values in place of its `{name}`s (`{task}`: the task)."""
    return substitute(text, {**values, "task": task} if task else values)


def coordination(
    plan: Plan,
    research: list[dict[str, Any]] | None = None,
    values: Mapping[str, str] | None = None,
    learned: dict[str, Learned] | None = None,
) -> dict[str, Any]:
    """Who does what, in which order, with which hand-offs and checks; the simulated schedule
    (the dry run's: estimates learned from earlier runs when there are some). `values`: the
    plan's variables as the run had them (else the plan's own), filled into what it hands off."""
    schedule = projected(plan, learned or {})
    values = {k: str(v) for k, v in plan.vars.items()} | dict(values or {})
    assigned: dict[str, list[str]] = {}
    for slot in schedule.slots:
        assigned.setdefault(slot.agent, []).append(slot.task)
    return {
        "plan": plan.name,
        "agents": [
            {
                "id": name,
                "slots": a.slots,
                "capabilities": list(a.capabilities),
                "tasks": assigned.get(name, []),
            }
            for name, a in plan.agents.items()
        ],
        "phases": [
            {
                "id": p.id,
                "title": p.title,
                "timebox": p.timebox,
                "tasks": [
                    {
                        "id": t.id,
                        "needs": list(t.needs),
                        "outputs": [filled(o, values, t.id) for o in t.outputs],
                        "estimate": t.estimate,
                        "on_failure": str(t.on_failure),
                        "on_resume": t.on_resume,
                    }
                    for t in p.tasks
                ],
            }
            for p in plan.phases
        ],
        "gates": [
            {
                "id": g.id,
                "after": g.after,
                "approval": g.approval,
                "approvers": list(g.approvers) or ["anyone"],
                "quorum": g.quorum,
                "criteria": len(g.criteria),
            }
            for g in plan.gates
        ],
        "risk_rules": plan.risks.dump(),
        "schedule": {
            "total": schedule.total,
            "critical_path": schedule.critical_path,
            "phases": [{"id": i, "start": s, "end": e} for i, s, e in schedule.phases],
            "tasks": [
                {"task": s.task, "agent": s.agent, "start": s.start, "end": s.end}
                for s in schedule.slots
            ],
        },
        "research": research or [],
    }


ENDED = frozenset({"succeeded", "failed", "cancelled"})  # (interrupted: `resume` goes on)


def gate_status(f: Facts, status: str) -> str:
    """A gate's status as a report states it: in a run that has ended, a gate still waiting
    for its phase was never reached, and one still open was never decided."""
    if f.state.status.value in ENDED:
        if status == "waiting":
            return NOT_REACHED
        if status == "open":
            return NOT_DECIDED
    return status


def qa(f: Facts, scores: dict[str, float | None]) -> dict[str, Any]:
    gates = []
    for g in f.state.gates.values():
        gates.append(
            {
                "id": g.id,
                "after": g.after,
                "status": gate_status(f, g.status.value),
                "attempt": g.attempt,
                "evidence_hash": g.evidence_hash,
                "criteria": g.criteria,
                "decisions": [
                    {"decision": d.decision, "user": d.user, "host": d.host, "reason": d.reason}
                    for d in f.decisions
                    if d.gate == g.id
                ],
                "refused": [r for r in f.refused if r["gate"] == g.id],
            }
        )
    criteria = [c for g in f.state.gates.values() for c in g.criteria]
    passed = sum(1 for c in criteria if c.get("passed"))
    tests = [
        {"task": t.id, **{k: v for k, v in t.results.items() if k != "attempt"}}
        for t in f.state.tasks.values()
        if t.results
    ]
    return {
        "tests": tests,
        "gates": gates,
        "criteria_passed": passed,
        "criteria_total": len(criteria),
        "compliance": scores["quality_compliance"],
    }


def performance(
    f: Facts, scores: dict[str, float | None], planned: list[str] | None = None
) -> dict[str, Any]:
    span = f.alive(f.start, f.end)  # (the time its engine was dead is no work: engine_down)
    busy = busy_seconds(f)
    retry_cost = sum(a.duration for a in f.attempts if a.status in FAILED_ENDS and a.end)
    gate_wait = sum(
        (closed or f.end) - opened for spans in f.gate_open.values() for opened, closed, _ in spans
    )
    tasks = []
    for t in f.state.tasks.values():
        last = f.final(t.id)
        estimate = f.estimates.get(t.id)
        tasks.append(
            {
                "id": t.id,
                "phase": t.phase,
                "agent": t.agent,
                "status": t.status.value,
                "attempts": t.attempts,
                "duration": last.duration if last and last.end else None,
                "estimate": estimate,
                "start": (last.start - f.start) if last else None,
                "queue_wait": f.queue_wait.get(t.id),
            }
        )
    return {
        "duration": span,
        "metrics": scores,
        "agents": [
            {
                "id": agent,
                "slots": slots,
                "busy": busy.get(agent, 0.0),
                "utilisation": 100.0 * busy.get(agent, 0.0) / (slots * span) if span else None,
            }
            for agent, slots in f.slots.items()
        ],
        "phases": [
            {
                "id": p.id,
                "status": p.status,
                "duration": f.alive(p.started_at, p.finished_at)
                if p.started_at is not None and p.finished_at is not None
                else None,
                "timebox": p.timebox,
                # each time it ran (a gate's rejection runs it again): the duration is the last
                "passes": [
                    {"start": a - f.start, "end": (b if b is not None else f.end) - f.start}
                    for a, b in f.passes.get(p.id, [])
                ],
            }
            for p in f.state.phases.values()
        ],
        "tasks": tasks,
        "queue_wait": sum(f.queue_wait.values()),
        "gate_wait": gate_wait,
        "retry_cost": retry_cost,
        "critical_path": {"planned": planned or [], "actual": actual_critical_path(f)},
        "engine_down": sum(b - a for a, b in f.down),
        # what the charts draw, in seconds from the run's start
        "attempts": [
            {
                "task": a.task,
                "agent": a.agent,
                "number": a.number,
                "status": a.status,
                "start": a.start - f.start,
                "end": (a.end if a.end is not None else f.end) - f.start,
            }
            for a in f.attempts
        ],
        "gates": [
            {"id": g, "opened": o - f.start, "closed": (c or f.end) - f.start, "outcome": out}
            for g, spans in f.gate_open.items()
            for o, c, out in spans
        ],
        "down": [(a - f.start, b - f.start) for a, b in f.down],
        "costs": [
            {"task": t.id, **{k: v for k, v in t.usage.items() if k != "cost_source"}}
            for t in f.state.tasks.values()
            if t.usage
        ],
        "forecasts": _accuracy(f),
    }


def _accuracy(f: Facts) -> dict[str, Any]:
    """How far the recorded forecasts of the run's end were from its actual end."""
    errors = []
    for ts, data in f.forecasts:
        eta = data.get("eta") or data.get("run_eta")
        if isinstance(eta, int | float) and f.state.finished_at is not None:
            errors.append(abs(ts + eta - f.state.finished_at))
    if not errors:
        return {"recorded": 0, "note": "no forecasts recorded"}
    return {"recorded": len(errors), "mean_error": sum(errors) / len(errors), "worst": max(errors)}


def lessons(
    f: Facts,
    history: list[dict[str, str]],
    outputs: dict[str, list[str]],
    values: Mapping[str, str] | None = None,
    standby: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Findings from the run and its earlier runs (how each task ended in them), each with a
    recommendation. `standby`: the plan's fallback tasks (of a task or of a risk rule); one
    skipped without having run was not needed, no open item."""
    findings: list[dict[str, str]] = []
    attempts = f.ran()  # (an attempt a take-over interrupted is no failure)
    failures: dict[str, int] = {}
    for a in f.attempts:
        if a.status in FAILED_ENDS:
            failures[a.task] = failures.get(a.task, 0) + 1
    for t in f.state.tasks.values():
        last, estimate = f.final(t.id), f.estimates.get(t.id)
        took = last.duration if last and last.end and last.status != INTERRUPTED else None
        # (a task done within a second: its estimate costs the forecast nothing, no finding)
        if estimate and took is not None and t.status.value == "succeeded":
            ratio = took / estimate
            if (ratio >= FAR_OFF or ratio <= 1 / FAR_OFF) and took >= 1.0:
                findings.append(
                    {
                        "kind": "estimate",
                        "subject": t.id,
                        "finding": f"took {format_duration(took)} against an estimate of "
                        f"{format_duration(estimate)} ({times(ratio)})",
                        "recommendation": f"set its estimate near {format_duration(took)}",
                    }
                )
        # flaky: an attempt failed or timed out and a later one succeeded (attempts a gate's
        # rewind, an amendment's restart or a take-over started again are no failures)
        failed = failures.get(t.id, 0)
        if t.status.value == "succeeded" and failed:
            ran = attempts.get(t.id, 0)
            findings.append(
                {
                    "kind": "flaky",
                    "subject": t.id,
                    "finding": f"succeeded after {failed} failed "
                    f"{'attempt' if failed == 1 else 'attempts'} ({ran} in all)",
                    "recommendation": "find why it fails at first; retries hide it",
                }
            )
    for tid in _flaky_across(f, history):
        findings.append(
            {
                "kind": "flaky",
                "subject": tid,
                "finding": "succeeded in some runs of this plan and failed in others",
                "recommendation": "make it deterministic, or give it retries",
            }
        )
    for r in f.risks:
        findings.append(
            {
                "kind": "risk",
                "subject": r.subject,
                "finding": f"{r.severity} risk: {r.message}",
                "recommendation": r.action or "review the rule's threshold",
            }
        )
    findings += _gate_findings(f)
    busiest = _bottleneck(f)
    if busiest:
        findings.append(busiest)
    open_items = (
        [
            {"task": t.id, "status": t.status.value, "reason": t.reason}
            for t in f.state.tasks.values()
            if t.status.value != "succeeded" and not _not_needed(f, t.id, standby, attempts)
        ]
        + [
            {"gate": g.id, "status": g.status.value, "reason": g.reason}
            for g in f.state.gates.values()
            if g.status in ("rejected", "failed")
        ]
        + [
            {"risk": r.key, "status": "open", "reason": r.message}
            for r in f.state.risks.values()
            if r.cleared_at is None
        ]
    )
    delivered = [
        {"task": task, "outputs": [filled(o, values or {}, task) for o in outs]}
        for task, outs in outputs.items()
        if outs and f.state.tasks.get(task) and f.state.tasks[task].status.value == "succeeded"
    ]
    branches = [
        {"task": t.id, **t.handoff} for t in f.state.tasks.values() if t.handoff.get("commit")
    ]
    return {
        "findings": findings,
        "notes": [{"ts": ts, "by": by, "text": text} for ts, by, text in f.state.notes],
        "feedback": [  # stakeholders' answers (feedback.given), with who gave them
            {k: g.get(k) for k in ("ts", "user", "uid", "rating", "comment", "answers", "host")}
            for g in f.state.feedback_given
        ],
        "handoff": {"deliverables": delivered, "open_items": open_items, "branches": branches},
        "scope_changes": scope_changes(f),
        "runs_compared": len(history),
    }


def _gate_findings(f: Facts) -> list[dict[str, str]]:
    """A gate that ended rejected or failed, and one rejected before it passed: each rejection
    that sent the run back cost a rework, a lesson even when the gate passed in the end."""
    found = []
    for g in f.state.gates.values():
        if g.status in ("rejected", "failed"):
            found.append(
                {
                    "kind": "gate",
                    "subject": g.id,
                    "finding": f"gate {g.status}: {g.reason}",
                    "recommendation": "fix what its criteria found before the next run",
                }
            )
    ends = {r.gate: r for r in f.rejections}  # each gate's last rejection
    for r in f.rejections:
        gate = f.state.gates.get(r.gate)
        if gate is not None and gate.status in ("rejected", "failed") and ends[r.gate] is r:
            continue  # (the gate's end, said above)
        rework = f", so phase {r.rewound_to} ran again" if r.rewound_to else ""
        then = f"; it passed at attempt {gate.attempt}" if gate and gate.status == "passed" else ""
        found.append(
            {
                "kind": "gate",
                "subject": r.gate,
                "finding": f"{r.outcome} at attempt {r.attempt}: {r.reason}{rework}{then}",
                "recommendation": "meet what the rejection asked for before the gate opens: "
                "each rejection costs a rework",
            }
        )
    return found


def scope_changes(f: Facts) -> list[dict[str, Any]]:
    """The run's amendments: applied (with their plan version) and those their change gate
    turned down, in the order they were proposed; in a run that has ended, one still open was
    never decided (it said `open`, as if it still could be)."""
    applied = {a["change"]: a for a in f.state.amendments}
    ended = f.state.status.value in ENDED
    found = []
    for change in f.state.changes.values():
        done = applied.get(change.id)
        status = change.status.value
        found.append(
            {
                "change": change.id,
                "status": NOT_DECIDED
                if (ended and status == "open") or change.reason == UNDECIDED
                else status,
                "by": done["by"] if done else change.by,
                "version": done["version"] if done else None,
                "reason": change.reason,
                "diff": change_lines(list(done["diff"] if done else change.diff)),
            }
        )
    return found


def _not_needed(f: Facts, task: str, standby: frozenset[str], ran: dict[str, int]) -> bool:
    """A fallback that stood by and was skipped at its phase's end, never having run."""
    t = f.state.tasks.get(task)
    return task in standby and t is not None and t.status.value == "skipped" and not ran.get(task)


def _flaky_across(f: Facts, history: list[dict[str, str]]) -> list[str]:
    flaky = []
    for tid, t in f.state.tasks.items():
        seen = {t.status.value}
        for ends in history:
            other = ends.get(tid)
            if other is not None:
                seen.add(other)
        if "succeeded" in seen and seen & FAILED_ENDS:
            flaky.append(tid)
    return flaky


def _bottleneck(f: Facts) -> dict[str, str] | None:
    waits: dict[str, float] = {}
    for task, wait in f.queue_wait.items():
        agent = f.state.tasks[task].agent if task in f.state.tasks else None
        if agent:
            waits[agent] = waits.get(agent, 0.0) + wait
    if not waits:
        return None
    agent = max(waits, key=lambda a: waits[a])
    if waits[agent] < 1.0:
        return None
    return {
        "kind": "bottleneck",
        "subject": agent,
        "finding": f"tasks waited {waits[agent]:.1f}s in all for a slot of agent {agent}",
        "recommendation": f"give {agent} more slots, or move work to another agent",
    }


def summary(f: Facts) -> dict[str, Any]:
    s = f.state
    return {
        "run": f.run_id,
        "plan": s.plan_name,
        "status": s.status.value,
        "reason": s.reason,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "duration": f.end - f.start,
        "counts": s.counts(),
        "failed": [t.id for t in s.tasks.values() if t.status.value in BAD],
        "usage": {k: v for k, v in s.usage.items() if k != "cost_sources"},
    }
