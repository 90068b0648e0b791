"""What an amendment of a live run does to its schedule: the forecast end and the critical path
before and after, and the tasks that would start earlier or later, simulated from where the run
stands now by the simulator `phasegate plan` uses (engine/watch/simulate.py)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec

from phasegate.engine.model.state import RunState
from phasegate.engine.plan.dag import DEFAULT_ESTIMATE
from phasegate.engine.plan.model import Plan
from phasegate.engine.watch.forecast import OVERDUE, progress
from phasegate.engine.watch.simulate import Progress, simulate

MOVED = 1.0  # seconds: a start that moves less is not reported


def impact(
    old: Plan, new: Plan, state: RunState, now: float, restart: Collection[str] = ()
) -> dict[str, Any]:
    """{"before": {"eta", "critical_path"}, "after": {...}, "earlier": [...], "later": [...]}:
    eta in seconds from now; earlier and later: [task, seconds it moves]. `restart`: running
    tasks the amendment stops and runs again."""
    where = progress(state, now)
    before = simulate(old, progress=where)
    after = simulate(new, progress=_amended(where, old, new, restart))
    starts = {s.task: s.start for s in before.slots}
    earlier, later = [], []
    for s in after.slots:
        was = starts.get(s.task)
        if was is None:
            continue
        moved = round(s.start - was, 1)
        if moved <= -MOVED:
            earlier.append([s.task, moved])
        elif moved >= MOVED:
            later.append([s.task, moved])
    return {
        "before": {"eta": round(before.total, 1), "critical_path": before.critical_path},
        "after": {"eta": round(after.total, 1), "critical_path": after.critical_path},
        "earlier": earlier,
        "later": later,
    }


def _amended(where: Progress, old: Plan, new: Plan, restart: Collection[str]) -> Progress:
    """Where the run stands, as the new plan sees it: a task whose estimate the amendment
    changes (or adds) takes the new one, a running one keeps what it has run against it, and a
    restarted one starts over. (The run's own estimates stood in for the new plan's: an
    amendment that made the critical path 30 s longer showed `+0s`.)"""
    was = {t.id: t.estimate for _, t in old.tasks()}
    estimate, running = dict(where.estimate), dict(where.running)
    for _, t in new.tasks():
        if t.id in where.done:
            continue
        if t.estimate is not None and t.estimate != was.get(t.id):
            before = estimate.get(t.id, t.estimate)
            estimate[t.id] = t.estimate
            if t.id in running:
                agent, left = running[t.id]
                running[t.id] = (agent, max(left + t.estimate - before, min(OVERDUE, t.estimate)))
        if t.id in restart and t.id in running:
            running[t.id] = (running[t.id][0], estimate.get(t.id, DEFAULT_ESTIMATE))
    return msgspec.structs.replace(where, estimate=estimate, running=running)


def impact_lines(found: dict[str, Any]) -> list[str]:
    """The impact as `amend` and the change gate print it."""
    if not found:
        return []
    b, a = found["before"], found["after"]
    delta = a["eta"] - b["eta"]
    sign = "+" if delta >= 0 else "-"
    lines = [
        f"forecast end: {_dur(b['eta'])} from now -> {_dur(a['eta'])} ({sign}{_dur(abs(delta))})",
        f"critical path before: {' -> '.join(b['critical_path']) or '-'}",
        f"critical path after:  {' -> '.join(a['critical_path']) or '-'}",
    ]
    if found.get("earlier"):
        lines.append("starts earlier: " + ", ".join(f"{t} ({m:+g}s)" for t, m in found["earlier"]))
    if found.get("later"):
        lines.append("starts later: " + ", ".join(f"{t} ({m:+g}s)" for t, m in found["later"]))
    return lines


def _dur(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
