"""The task graph of a plan: dependents and the longest remaining path (the scheduling rank);
the dry run (engine/simulate.py) derives the critical path from its schedule.

Plain dicts keep the hot path fast for 10,000-task plans; networkx is imported only where a
general graph algorithm earns it (naming cycles, in plan.check). Measured against networkx
(slower at each job, and its import alone costs ~120 ms): docs/dag.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:  # (only annotations: the dashboard reads this module without the model)
    from phasegate.engine.plan.model import Plan

DEFAULT_ESTIMATE = 1.0  # seconds, for ranking tasks that give no estimate


class Graph(msgspec.Struct):
    order: dict[str, int]  # plan order, the deterministic tie-break
    phase_of: dict[str, str]
    needs: dict[str, tuple[str, ...]]
    dependents: dict[str, list[str]]
    estimate: dict[str, float]
    rank: dict[str, float]  # longest path (sum of estimates) from the task to the end, inclusive
    phases: list[tuple[str, list[str]]]  # phase id and its task ids, in run order


def build(plan: Plan, learned: Mapping[str, float] | None = None) -> Graph:
    """The plan's graph; `learned`: task -> an estimate that stands in for the plan's (the
    median of its earlier runs, for the dry run)."""
    learned = learned or {}
    order: dict[str, int] = {}
    phase_of: dict[str, str] = {}
    needs: dict[str, tuple[str, ...]] = {}
    estimate: dict[str, float] = {}
    phases = []
    for phase in plan.phases:
        ids = []
        for task in phase.tasks:
            order[task.id] = len(order)
            phase_of[task.id] = phase.id
            needs[task.id] = tuple(task.needs)
            own = learned.get(task.id, task.estimate)
            estimate[task.id] = own if own is not None else DEFAULT_ESTIMATE
            ids.append(task.id)
        phases.append((phase.id, ids))
    dependents: dict[str, list[str]] = {t: [] for t in order}
    for t, ns in needs.items():
        for n in ns:
            dependents[n].append(t)
    # tasks are in a valid order phase by phase, but `needs` may point forward inside a phase:
    # compute ranks in reverse topological order (Kahn from the sinks)
    rank: dict[str, float] = {}
    pending = {t: len(ds) for t, ds in dependents.items()}
    stack = [t for t, n in pending.items() if n == 0]
    while stack:
        t = stack.pop()
        rank[t] = estimate[t] + max((rank[d] for d in dependents[t]), default=0.0)
        for n in needs[t]:
            pending[n] -= 1
            if pending[n] == 0:
                stack.append(n)
    return Graph(order, phase_of, needs, dependents, estimate, rank, phases)
