"""The lessons learned from a run, as plain data: findings from the run and its earlier runs
(estimates far off, flaky tasks, failures, gates, scope changes, bottlenecks), each with a
recommendation; rendered with the other report kinds (render.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.events_oversight import UNDECIDED, RiskRaised
from phasegate.engine.plan.amend_lines import change_lines
from phasegate.engine.report.build import filled
from phasegate.engine.report.facts import (
    ENDED,
    FAILED_ENDS,
    INTERRUPTED,
    NOT_DECIDED,
    Facts,
    ended_first,
)

FAR_OFF = 1.5  # a task this many times its estimate (or under 1/FAR_OFF of it) is a finding


def times(ratio: float) -> str:
    """A ratio of durations as a reader takes it in: `3.2x`, `0.4x`, `0.04x` (never `0.0x`)."""
    if ratio >= 0.1:
        return f"{ratio:.1f}x"
    if ratio >= 0.01:
        return f"{ratio:.2f}x"
    return "under 0.01x"


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
                "recommendation": advice(r),
            }
        )
    findings += _gate_findings(f)
    findings += ended_badly(f, attempts, failures)
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
            {
                "gate": g.id,
                "status": status,
                "reason": ended_first(f.state.reason) if status == NOT_DECIDED else g.reason,
            }
            for g in f.state.gates.values()
            if (status := f.gate_status(g.id)) in ("rejected", "failed", NOT_DECIDED)
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


def ended_badly(
    f: Facts, attempts: dict[str, int], failures: dict[str, int]
) -> list[dict[str, str]]:
    """What did not go as planned in how the run and its tasks ended (without these, a failed
    or cancelled run's lessons said `the run went as planned`): each task that ended failed or
    timed out, with its reason and attempts; each time the run's engine stopped and another
    took the run over; a cancelled run (by whom, why), and a failed one no finding explains."""
    found = []
    for t in f.state.tasks.values():
        if t.status.value not in FAILED_ENDS:
            continue
        n = attempts.get(t.id) or t.attempts or 1
        word = t.status.value.replace("_", " ")  # (timed out)
        reason = t.reason if t.reason.startswith(word) else f"{word}: {t.reason or 'no reason'}"
        tries = "its only attempt" if n == 1 else f"{n} attempts, none succeeded"
        logs = f"`phasegate logs {f.run_id} {t.id}`"
        if t.status.value == "timed_out":
            advice = (
                f"if that is its normal time, raise its timeout; else find why it hangs ({logs})"
            )
        elif n > 1 and failures.get(t.id, 0) >= n:
            advice = f"fix the cause ({logs}): its retries failed alike"
        else:
            advice = f"fix the cause ({logs}); if it fails only now and then, give it retries"
        found.append(
            {"kind": "failure", "subject": t.id, "finding": f"{reason} ({tries})",
             "recommendation": advice}
        )  # fmt: skip
    for last_seen, taken in f.down:
        found.append(
            {
                "kind": "interrupted",
                "subject": "run",
                "finding": f"its engine stopped and the run was taken over "
                f"{format_duration(taken - last_seen)} later (that time is not counted in the "
                "durations)",
                "recommendation": "find why the engine stopped (engine.log in the run's directory)",
            }
        )
    status, why = f.state.status.value, f.state.reason
    if status == "cancelled":
        stopped = [t.id for t in f.state.tasks.values() if t.status.value == "cancelled"]
        never = sum(1 for t in f.state.tasks.values() if t.status.value in ("pending", "ready"))
        said = why if why.startswith("cancelled") else f"cancelled: {why or 'no reason given'}"
        if stopped:
            said += f"; tasks it cancelled: {', '.join(stopped)}"
        if never:
            said += f"; {never} {'task' if never == 1 else 'tasks'} never started"
        found.append(
            {
                "kind": "cancelled",
                "subject": "run",
                "finding": said,
                "recommendation": "deal with what it was cancelled for before the next run"
                if f.state.notes or not why.startswith("cancelled by")
                else f"say why it was cancelled (`phasegate note {f.run_id} ...`): the next run "
                "learns from it",
            }
        )
    elif status == "failed" and not any(x["kind"] in ("failure", "gate") for x in found):
        found.append(
            {
                "kind": "failed",
                "subject": "run",
                "finding": f"the run failed: {why or 'no reason recorded'}",
                "recommendation": "remove what ended it before the next run "
                f"(`phasegate audit {f.run_id}`)",
            }
        )
    return found


def advice(r: RiskRaised) -> str:
    """What to change in the plan (or around it) before the next run, for a risk that fired:
    advice, never the action the run took (`the run is paused`) nor what the operator could do
    then (`decide it (g in the dashboard...)`). A rule this code does not know: its action."""
    of, evidence = ("the run" if r.subject == "run" else r.subject), r.evidence
    match r.rule:
        case "budget" if r.severity == "medium" and "share" in evidence:  # (80% of it spent)
            return f"if {of} always spends this much, raise its budget before it is spent"
        case "budget" if r.severity == "medium":  # (a task's forecast would overrun it)
            return f"raise the budget of {of} to what its tasks cost, or give them less to do"
        case "budget":
            return f"raise the budget of {of} to what its work spends, or split or cut that work"
        case "task_overrun":
            return f"find why {of} ran long; if that is its normal time, raise its estimate"
        case "silent_agent":
            task = evidence.get("task", "?")
            return f"have task {task} print its progress, or raise its silent_after"
        case "phase_timebox" | "phase_projected":
            return f"give {of} a timebox that fits its work, or more slots, or split it"
        case "retry_storm":
            return f"find the shared cause of the retries in {of} (a flaky dependency, a full disk)"
        case "failure_rate":
            return (
                f"find why the tasks of {of} fail; those that may fail: on_failure: continue "
                "or a fallback"
            )
        case "gate_wait":
            return (
                f"have the approvers of {of} ready when it opens (or fewer of them), or leave "
                "room for the wait in the later phases' timeboxes (risks: gate_wait)"
            )
        case "machine_pressure":
            return _pressure_advice(r)
        case "monitor":
            return f"fix what {of} checks before the run, or set its min/max to what is normal"
        case "notify":
            return "fix the plan's notify command: people may not hear that the run waits"
    return r.action or "review the rule's threshold"


def _pressure_advice(r: RiskRaised) -> str:
    what = str(r.evidence.get("resource") or "")
    if what == "cpu" and r.severity == "medium":  # (others kept the machine busy: told only)
        return "if other work often keeps the machine this busy, raise the cpu threshold (risks)"
    if what == "cpu" and r.evidence.get("top_ours") is False:
        return "run it when other work leaves the machine free, or on a machine of its own"
    if what == "disk":
        return "free disk space before the run, or give its workdir a larger disk"
    return (
        f"give the agents fewer slots (or `actions: {{machine_pressure: reduce_slots}}`), or "
        f"run it on a machine with more {'CPU' if what == 'cpu' else 'memory'}"
    )


def _gate_findings(f: Facts) -> list[dict[str, str]]:
    """A gate that ended rejected or failed, and one rejected before it passed: each rejection
    that sent the run back cost a rework, a lesson even when the gate passed in the end."""
    found = []
    for g in f.state.gates.values():
        if g.status in ("rejected", "failed") and g.id not in f.undecided:
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
    never decided (it said `open`, as if it still could be). `by` is who proposed it (it said
    who approved it), `approved_by` whose approval applied it (None: not applied)."""
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
                else "not applied"  # (approved when the run had moved on: the fold's rejected)
                if change.id in f.not_applied
                else status,
                "by": change.by,  # (who proposed it; who approved it: `approved_by`)
                "approved_by": done["by"] if done else None,  # (whose approval applied it)
                "version": done["version"] if done else None,
                "reason": change.reason,
                # who decided it and what they said (`approve --reason`): the change's record
                "decided": [
                    {"by": d.user, "decision": d.decision, "reason": d.reason}
                    for d in f.decisions
                    if d.gate == change.id
                ],
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
