"""The content of each report kind, as plain data (rendered to Markdown, HTML, JSON, JUnit by
render.py): coordination plan, QA report, performance report (lessons learned: lessons.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phasegate.engine.plan.template import substitute
from phasegate.engine.report.facts import (
    BAD,
    ENDED,
    FAILED_ENDS,
    NOT_REACHED,
    Facts,
    covered,
)
from phasegate.engine.report.measures import actual_critical_path, busy_seconds
from phasegate.engine.watch.history import Learned
from phasegate.engine.watch.simulate import projected

if TYPE_CHECKING:  # (annotations only: reading a run needs no plan model)
    from phasegate.engine.plan.model import Plan

KINDS = ("coordination", "qa", "performance", "lessons")
STOPPED_BY_RUN = "was stopped: the run"  # a criterion the run's stop killed (engine/run/gates.py)


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


def qa(f: Facts, scores: dict[str, float | None]) -> dict[str, Any]:
    gates = []
    for g in f.state.gates.values():
        gates.append(
            {
                "id": g.id,
                "after": g.after,
                "status": f.gate_status(g.id),
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
    # (a phase's declared outputs are the gate's evidence, shown beside its criteria: not
    # criteria of the plan, which the count says; nor is a criterion the run's stop killed
    # (engine/run/gates.py: "was stopped: the run ..."), which no one judged)
    criteria = [
        c
        for g in f.state.gates.values()
        for c in g.criteria
        if c.get("kind") != "artifact" and not str(c.get("detail", "")).startswith(STOPPED_BY_RUN)
    ]
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
                # (a phase an ended run never started was not reached, as its gates say)
                "status": NOT_REACHED
                if p.status == "pending" and f.state.status.value in ENDED
                else p.status,
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
        "paused": _paused(f),
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


def _paused(f: Facts) -> float:
    """Seconds the run was paused (by a person, a budget, a risk rule), or the phase under way
    was (a phase paused before it started held nothing up), its engine alive."""
    spans: list[tuple[float, float]] = []
    for scope, held in f.paused.items():
        ran = [(f.start, f.end)] if not scope else f.passes.get(scope, [])
        for a, b in held:
            for x, y in ran:
                spans.append((max(a, x), min(f.end if b is None else b, f.end if y is None else y)))
    down = covered(f.down, f.start, f.end)
    return covered(spans + f.down, f.start, f.end) - down


FORECAST_KEYS = ("recorded", "mean_error", "worst", "note")  # `forecasts`: always these


def _accuracy(f: Facts) -> dict[str, Any]:
    """How far the recorded forecasts of the run's end were from its actual end, always with
    the same keys (FORECAST_KEYS), so that a script can read them: `recorded` the forecasts
    compared (0: none), `mean_error` and `worst` in seconds (None without one), `note` why
    there is none ("" when there are)."""
    errors = []
    for ts, data in f.forecasts:
        eta = data.get("eta", data.get("run_eta"))  # (0: nothing left, a forecast too)
        if isinstance(eta, int | float) and f.state.finished_at is not None:
            errors.append(abs(ts + eta - f.state.finished_at))
    if errors:
        mean, worst, note = sum(errors) / len(errors), max(errors), ""
    elif f.forecasts and f.state.finished_at is None:
        mean, worst, note = None, None, "the run has not ended: no end to compare them with"
    else:
        mean, worst, note = None, None, "no forecasts recorded"
    return {"recorded": len(errors), "mean_error": mean, "worst": worst, "note": note}


def summary(f: Facts) -> dict[str, Any]:
    s = f.state
    return {
        "run": f.run_id,
        "plan": s.plan_name,
        "status": s.status.value,
        "reason": s.reason,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        # wall time, start to end, as `runs` and `show` give it; `engine_down`: the part of
        # it no engine ran the run (a crash until its take-over), which the performance
        # report leaves out of its duration
        "duration": f.end - f.start,
        "engine_down": f.end - f.start - f.alive(f.start, f.end),
        "counts": s.counts(),
        "failed": [t.id for t in s.tasks.values() if t.status.value in BAD],
        "usage": {k: v for k, v in s.usage.items() if k != "cost_sources"},
    }
