"""Risk rules: early warnings computed from the run's state at every tick, raised and cleared
as events. Pure: the runner gives the state, the time and when each task last printed."""

from __future__ import annotations

from typing import Any

import msgspec

from phasegate.engine.model import events as ev
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import RiskState, RunState
from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.plan.model import PhaseRisks, Plan, RiskSettings, TaskRisks
from phasegate.engine.watch.forecast import seconds_left

OVERRUN_SLACK = 0.25  # seconds a task may run before it can be past its p90 or estimate
# a task's earlier runs vary by jitter: it is late only once past their p90 by this much
# (10% of the p90, half a second at least), or by its overrun_factor when that says more
HISTORY_MARGIN, HISTORY_MARGIN_S = 0.10, 0.5


def overrun_limit(p90: float | None, estimate: float | None, factor: float) -> tuple[float, str]:
    """How long a task may run before it overruns (0: no limit), and what that limit is past,
    said as the risk says it: its estimate times `overrun_factor`, or the p90 of its earlier
    successful runs times the factor, with a margin for jitter (HISTORY_MARGIN)."""
    by_estimate = (estimate or 0.0) * factor
    margin = max(HISTORY_MARGIN_S, HISTORY_MARGIN * (p90 or 0.0))
    by_history = max((p90 or 0.0) * factor, (p90 or 0.0) + margin) if p90 else 0.0
    times = "" if factor == 1 else f"{factor:g}x "
    if by_history and by_history >= by_estimate:
        runs = f"the p90 of its earlier successful runs ({format_duration(p90 or 0.0)})"
        if (p90 or 0.0) * factor >= by_history:
            return by_history, f"{times}{runs}"
        return by_history, f"{runs} by over {format_duration(margin)}"
    return by_estimate, f"{times}its estimate of {format_duration(estimate or 0.0)}"


class Tuning(msgspec.Struct, frozen=True):
    """The thresholds that hold for each task and phase: a task's own `risks:`, else its
    phase's, else the plan's."""

    rules: RiskSettings
    tasks: dict[str, TaskRisks] = {}
    phases: dict[str, PhaseRisks] = {}
    phase_of: dict[str, str] = {}

    @classmethod
    def of(cls, plan: Plan) -> Tuning:
        tasks = {t.id: t.risks for p in plan.phases for t in p.tasks if t.risks is not None}
        phases = {p.id: p.risks for p in plan.phases if p.risks is not None}
        phase_of = {t.id: p.id for p in plan.phases for t in p.tasks if p.id in phases}
        return cls(plan.risks, tasks, phases, phase_of)

    def task(self, name: str, task: str) -> Any:
        own = self.tasks.get(task)
        if own is not None and getattr(own, name) is not None:
            return getattr(own, name)
        return self.phase(name, self.phase_of.get(task, ""))

    def phase(self, name: str, phase: str) -> Any:
        own = self.phases.get(phase)
        if own is not None and getattr(own, name) is not None:
            return getattr(own, name)
        return getattr(self.rules, name)


class Finding(msgspec.Struct, frozen=True):
    key: str
    rule: str
    severity: str
    subject: str
    message: str
    action: str
    evidence: dict[str, Any] = {}


LAST_LINE_CHARS = 120  # of a silent task's last line, in its risk's message


def findings(
    state: RunState,
    now: float,
    last_output: dict[str, float],
    rules: RiskSettings,
    tuning: Tuning | None = None,
    last_line: dict[str, str] | None = None,
) -> list[Finding]:
    """Every risk that holds now. Cost: the running tasks and the running phase only.
    `tuning`: the plan's per-phase and per-task thresholds (default: `rules` everywhere);
    `last_line`: task -> its newest output line (a silent agent's last activity)."""
    tune = tuning if tuning is not None else Tuning(rules)
    found: list[Finding] = []
    running = {t for a in state.agents.values() for t in a.running}
    # (a coding agent waiting for a person to answer its tool request is not stalled: the
    # prompt and the bell are for that)
    waiting = {p.task for p in state.permissions.values() if p.status == "open"}
    for tid in running:
        t = state.tasks[tid]
        began = t.attempt_started_at or t.started_at  # (this attempt: not its retries' time)
        if began is None:
            continue
        took = now - began
        limit, past = overrun_limit(t.p90, t.estimate, tune.task("overrun_factor", tid))
        # (a task of a few milliseconds is not late by a tick's jitter: a quarter second at least)
        if limit and took > max(limit, OVERRUN_SLACK):
            severity = "high" if took > 2 * limit else "medium"
            found.append(
                Finding(
                    f"overrun:{tid}",
                    "task_overrun",
                    severity,
                    f"task {tid}",
                    f"running {_past(took, limit)}, past {past}",  # (never `5.02s, past 5.0s`)
                    "check its output (l); skip or cancel it if it hangs",
                    {"running_s": round(took, 1), "estimate_s": t.estimate, "p90_s": t.p90},
                )
            )
        quiet = now - max(last_output.get(tid, 0.0), began)
        silent_after = tune.task("silent_after", tid)
        if silent_after and quiet > silent_after and tid not in waiting:
            said = (last_line or {}).get(tid, "").strip()
            last = f"; its last line: {said[:LAST_LINE_CHARS]}" if said else ""
            found.append(
                Finding(
                    f"silent:{tid}",
                    "silent_agent",
                    "medium",
                    f"agent {t.agent}",
                    f"task {tid} has printed nothing for {format_duration(quiet)}{last}",
                    "check that it is not waiting for input; cancel it if it hangs",
                    {"task": tid, "quiet_s": round(quiet, 1)},
                )
            )
    for phase in state.phases.values():
        if phase.status != "running" or phase.started_at is None:
            continue
        storm, rate = tune.phase("retry_storm", phase.id), tune.phase("failure_rate", phase.id)
        found.extend(
            _phase_findings(
                state, phase.id, now - phase.started_at, phase.timebox, now, storm, rate
            )
        )
    for gate in state.gates.values():
        if gate.status == "open" and gate.opened_at is not None:
            found.extend(_gate_findings(state, gate.id, now - gate.opened_at, rules))
    return found


def _slack(state: RunState) -> float | None:
    """What the phases still to run have in their timeboxes beyond their work (at best: the
    work spread over every slot); None when one of them has no timebox."""
    later = [p for p in state.phases.values() if p.status == "pending"]
    if not later or any(p.timebox is None for p in later):
        return None
    names = {p.id for p in later}
    work = sum(t.estimate or 0.0 for t in state.tasks.values() if t.phase in names)
    slots = sum(a.slots for a in state.agents.values()) or 1
    return sum(p.timebox or 0.0 for p in later) - work / slots


def _gate_findings(state: RunState, gate: str, waited: float, rules: RiskSettings) -> list[Finding]:
    """A gate waiting for a decision long enough to eat the run's slack (or `gate_wait`)."""
    slack = _slack(state)
    evidence = {"waited_s": round(waited, 1), "slack_s": None if slack is None else round(slack, 1)}
    if slack is not None and waited > max(slack, 0.0):
        message = (
            f"has waited {_past(waited, max(slack, 0.0))} for a decision, more than the run's "
            f"slack ({format_duration(max(slack, 0.0))}): the phases after it will overrun"
        )
        severity = "high"
    elif rules.gate_wait and waited > rules.gate_wait:
        message = f"has waited {_past(waited, rules.gate_wait)} for a decision"
        severity = "medium"
    else:
        return []
    return [
        Finding(
            f"gate_wait:{gate}",
            "gate_wait",
            severity,
            f"gate {gate}",
            message,
            "decide it (g in the dashboard, or phasegate approve/reject)",
            evidence,
        )
    ]


def _phase_findings(
    state: RunState,
    phase: str,
    used: float,
    timebox: float | None,
    now: float,
    retry_storm: int,
    failure_rate: float,
) -> list[Finding]:
    found = []
    tasks = [t for t in state.tasks.values() if t.phase == phase]
    if timebox is not None:
        if used > timebox:
            found.append(
                Finding(
                    f"timebox:{phase}",
                    "phase_timebox",
                    "high",
                    f"phase {phase}",
                    f"over its timebox: {_past(used, timebox)} of {format_duration(timebox)}",
                    "re-prioritise or skip what can wait",
                )
            )
        else:
            left = seconds_left(state, now, phase)  # the forecast's: the work left on the slots
            if left is None:  # none recorded yet: at least the longest task left
                left = 0.0
                for t in tasks:
                    if t.status.terminal or t.estimate is None:
                        continue
                    started = t.started_at if t.status is TaskStatus.RUNNING else None
                    left = max(left, t.estimate - (now - started if started else 0.0))
            if used + left > timebox:
                found.append(
                    Finding(
                        f"projected:{phase}",
                        "phase_projected",
                        "medium",
                        f"phase {phase}",
                        f"projected to end after its timebox ({format_duration(used + left)} of "
                        f"{format_duration(timebox)})",
                        "add slots, re-prioritise, or skip what can wait",
                        {"used_s": round(used, 1), "left_s": round(left, 1), "timebox_s": timebox},
                    )
                )
    # (tasks a gate's rewind or an amendment's restart ran again did not need retries)
    retried = [t.id for t in tasks if t.attempts >= 2 and t.failures]
    if retry_storm and len(retried) >= retry_storm:
        found.append(
            Finding(
                f"retries:{phase}",
                "retry_storm",
                "medium",
                f"phase {phase}",
                f"{len(retried)} tasks needed retries: {', '.join(sorted(retried)[:5])}",
                "look for a shared cause (a flaky dependency, a full disk)",
            )
        )
    ended = [t for t in tasks if t.status.terminal and t.status is not TaskStatus.SKIPPED]
    bad = [t for t in ended if t.status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT)]
    if len(ended) >= 4 and len(bad) / len(ended) >= failure_rate:
        found.append(
            Finding(
                f"failures:{phase}",
                "failure_rate",
                "high",
                f"phase {phase}",
                f"{len(bad)} of {len(ended)} finished tasks failed",
                "pause the phase (p) and look at the failures",
            )
        )
    return found


# risks raised and cleared by a part of the run, not by what holds at a tick: the notify
# command's (run/notify.py), a budget's (run/budgets.py: cleared when it is extended)
OWN_RULES = frozenset({"notify", "budget"})


def changes(state: RunState, now: float, found: list[Finding]) -> list[ev.Event]:
    """The events that bring the state's risks in line with what holds now: a risk raised,
    raised again (`_outdated`: it says something else now), or cleared."""
    out: list[ev.Event] = []
    holding = {f.key for f in found}
    for f in found:
        known = state.risks.get(f.key)
        if known is None or not known.open or _outdated(known, f):
            out.append(
                ev.RiskRaised(
                    now, f.key, f.rule, f.severity, f.subject, f.message, f.action, f.evidence
                )
            )
    for key, risk in state.risks.items():
        if risk.open and key not in holding and risk.rule not in OWN_RULES:
            out.append(ev.RiskCleared(now, key, "no longer holds"))
    return out


DRIFT = 2.0  # a duration an open risk tells, grown this many times over: the risk is said again
DRIFT_MIN_S = 1.0  # (and by a second at least)
# the durations of a risk's evidence that grow while it holds (a slack, a time left: no)
GROWING = ("running_s", "quiet_s", "waited_s", "used_s")


def _outdated(known: RiskState, f: Finding) -> bool:
    """An open risk that holds still, to raise again with what it says now: its severity has
    changed (gate criteria such as `no_risks: high` and the rules' actions read it), or a
    duration it tells that grows while it holds (`GROWING` of its evidence: running, quiet,
    waited, used) has doubled since.
    Not at every change of a number that grows each tick: a risk open for an hour is said
    again a dozen times, not 3,600."""
    if known.severity.value != f.severity:
        return True
    if known.message == f.message:
        return False
    for name in GROWING:
        now, was = _seconds(f.evidence.get(name)), _seconds(known.evidence.get(name))
        if now is None or was is None or was <= 0:
            continue
        if now >= DRIFT * was and now - was >= DRIFT_MIN_S:
            return True
    return False


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _past(took: float, limit: float) -> str:
    """How long it has run (or waited, or used), never said as the limit it is past (`1.0s,
    past its estimate of 1.0s`: a tick past 1 s reads 1.0s; `1.04s` then)."""
    said = format_duration(took)
    return f"{took:.2f}s" if said == format_duration(limit) and took < 60 else said
