"""A run's measures from its facts (engine/report/facts.py): each agent's busy time, the
critical path it really took, and the success metrics (task success, timeline adherence,
quality compliance, resource efficiency, stakeholder satisfaction)."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from phasegate.engine.model import statuses
from phasegate.engine.report.facts import INTERRUPTED, Facts, on_time


def busy_seconds(f: Facts) -> dict[str, float]:
    """Slot time each agent spent running attempts, less the time the run's engine was dead
    (an attempt a take-over stopped ran until then as far as the run knows)."""
    busy: dict[str, float] = {}
    for a in f.attempts:  # (one still running: busy so far, to the run's newest event)
        took = f.alive(a.start, a.end if a.end is not None else max(a.start, f.end))
        busy[a.agent] = busy.get(a.agent, 0.0) + took
    return busy


def actual_critical_path(f: Facts) -> list[str]:
    """The chain that ended last, over the tasks' real dependencies and times: from the last
    task to finish, back each step to what it waited for (a need, or, for a task of a later
    phase, the task of an earlier phase that ended last), a gate's wait between phases being no
    task of it."""
    ends: dict[str, float] = {}
    starts: dict[str, float] = {}
    for task, a in f.last.items():
        if a.end is not None and a.status != INTERRUPTED:
            ends[task], starts[task] = a.end, a.start
    if not ends:
        return []
    rank = {p: i for i, p in enumerate(f.phase_order)}
    order = {t: i for i, t in enumerate(f.needs)}
    phase = {t: rank.get(f.phase_of.get(t, ""), 0) for t in ends}
    # each phase's tasks by their end: a step looks up the latest end before its start in
    # each earlier phase (a walk over every task at each step took the report O(tasks x path))
    by_phase: dict[int, tuple[list[float], list[str]]] = {}
    for t in sorted(ends, key=ends.__getitem__):
        times, names = by_phase.setdefault(phase[t], ([], []))
        times.append(ends[t])
        names.append(t)
    # an exact tie (a task the plan did not list, added by an amendment, has no order) goes to
    # the one that started first, as a walk over the tasks in that order would find it
    first = {t: -i for i, t in enumerate(ends)}
    task = max(ends, key=lambda t: (ends[t], order.get(t, 0)))
    path, seen = [task], {task}
    while True:
        needs = set(f.needs.get(task, ()))
        bound, mine = starts[task] + 1e-6, phase[task]
        before = [t for t in needs if t in ends and t not in seen and ends[t] <= bound]
        for r, (times, names) in by_phase.items():
            if r < mine:
                before += _latest(times, names, bound, seen)
        if not before:
            break
        task = max(before, key=lambda t: (ends[t], t in needs, order.get(t, 0), first[t]))
        path.append(task)
        seen.add(task)
    return path[::-1]


def _latest(times: list[float], names: list[str], bound: float, seen: set[str]) -> list[str]:
    """The tasks not in `seen` that ended last at or before `bound` (all of them on a tie);
    `times` ascending, `names` in the same order."""
    found: list[str] = []
    top: float | None = None
    i = bisect_right(times, bound)
    while i > 0:
        i -= 1
        if top is not None and times[i] != top:
            break
        if names[i] not in seen:
            top = times[i]
            found.append(names[i])
    return found


def metrics(f: Facts) -> dict[str, float | None]:
    """The success metrics of a run, each a percentage (None when it does not apply).
    Timeline adherence: the share of tasks with an estimate and phases with a timebox that
    kept to it, `on_time` (its tolerance in ON_TIME_WORDS)."""
    tasks = f.state.tasks.values()
    # (a run under way, or interrupted: of the tasks that have ended; pending is no failure)
    going = f.state.finished_at is None
    counted = [
        t
        for t in tasks
        if t.status.value != "skipped" and (not going or t.status in statuses.TERMINAL)
    ]
    ok = sum(1 for t in counted if t.status.value == "succeeded")
    success = 100.0 * ok / len(counted) if counted else None
    kept = total = 0  # (tasks and phases that kept to their estimate or timebox)
    for t in tasks:
        estimate = f.estimates.get(t.id)
        last = f.final(t.id)
        if estimate and last is not None and last.end is not None:
            total += 1
            kept += on_time(last.duration, estimate)
    for p in f.state.phases.values():
        if p.timebox and p.started_at is not None and p.finished_at is not None:
            total += 1
            kept += on_time(f.alive(p.started_at, p.finished_at), p.timebox)
    adherence = 100.0 * kept / total if total else None
    ends = ("passed", "rejected", "failed")  # (not one the run's stop left undecided)
    closed = [g for g in f.state.gates.values() if f.gate_status(g.id) in ends]
    compliance = (
        100.0 * sum(1 for g in closed if g.status == "passed") / len(closed) if closed else None
    )
    span = f.alive(f.start, f.end)  # (while its engine was dead, no slot was offered)
    available = sum(f.slots.values()) * span
    efficiency = 100.0 * sum(busy_seconds(f).values()) / available if available > 0 else None
    return {
        "task_success_rate": success,
        "timeline_adherence": adherence,
        "quality_compliance": compliance,
        "resource_efficiency": efficiency,
        "stakeholder_satisfaction": satisfaction(f.state.feedback_given),
    }


def satisfaction(given: list[dict[str, Any]]) -> float | None:
    """The stakeholders' mean rating as a percentage of the best (4.2 of 5: 84%), each
    person's latest rating counted once; None without a rating."""
    latest = {g["uid"]: g["rating"] for g in given if g.get("rating") is not None}
    return 100.0 * sum(latest.values()) / (5 * len(latest)) if latest else None
