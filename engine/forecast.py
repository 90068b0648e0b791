"""A first ETA from the plan's estimates: the remaining work's critical path, or its total spread
over the agents' slots, whichever is longer. The forecast issue replaces it with a simulation."""

from __future__ import annotations

from .state import RunState, TaskStatus


def remaining_seconds(state: RunState, now: float) -> float | None:
    """Seconds of work left, or None when a task still to run has no estimate."""
    left: dict[str, float] = {}
    for t in state.tasks.values():
        if t.status.terminal:
            continue
        if t.estimate is None:
            return None
        spent = now - t.started_at if t.status is TaskStatus.RUNNING and t.started_at else 0.0
        left[t.id] = max(t.estimate - spent, 0.0)
    if not left:
        return 0.0
    # longest chain of remaining work, in topological order (Kahn) over the remaining tasks
    waiting = {tid: [n for n in state.tasks[tid].needs if n in left] for tid in left}
    dependents: dict[str, list[str]] = {tid: [] for tid in left}
    for tid, needs in waiting.items():
        for n in needs:
            dependents[n].append(tid)
    count = {tid: len(needs) for tid, needs in waiting.items()}
    ready = [tid for tid, c in count.items() if c == 0]
    finish: dict[str, float] = {}
    while ready:
        tid = ready.pop()
        finish[tid] = max((finish[n] for n in waiting[tid]), default=0.0) + left[tid]
        for d in dependents[tid]:
            count[d] -= 1
            if count[d] == 0:
                ready.append(d)
    slots = sum(a.slots for a in state.agents.values()) or 1
    return max(max(finish.values(), default=0.0), sum(left.values()) / slots)
