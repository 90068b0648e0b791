"""DAG generation and checking for the benchmarks, plus writers for a phasegate plan and a Makefile.

The generators are a copy of the logic in the shared baselines (`baselines/dag.py`), so that the
figures here are comparable with PERFORMANCE.md; they are copied, not imported, because CI runs on a
clean clone of this repository only. Same seed, same DAG.

A DAG is a dict: {"kind": "layered"|"chain", "tasks": [[name, [dep, ...]], ...], "sinks": [...]};
tasks are listed in a topological order and named "t<index>".
"""

from __future__ import annotations

import json
import random
from typing import Any

Dag = dict[str, Any]


def layered(layers: int, width: int, fanin: int = 2, seed: int = 1) -> Dag:
    """`layers` layers of `width` tasks, each needing `fanin` random tasks of the layer before."""
    rng = random.Random(seed)
    tasks: list[list[Any]] = []
    for lay in range(layers):
        for j in range(width):
            idx = lay * width + j
            if lay == 0:
                deps: list[str] = []
            else:
                k = min(fanin, width)
                picked = sorted(rng.sample(range(width), k))
                deps = [f"t{(lay - 1) * width + d}" for d in picked]
            tasks.append([f"t{idx}", deps])
    return {
        "kind": "layered",
        "layers": layers,
        "width": width,
        "tasks": tasks,
        "sinks": sinks_of(tasks),
    }


def chain(n: int) -> Dag:
    """`n` tasks, each needing the one before."""
    tasks = [[f"t{i}", [f"t{i - 1}"] if i else []] for i in range(n)]
    return {"kind": "chain", "layers": n, "width": 1, "tasks": tasks, "sinks": sinks_of(tasks)}


def sinks_of(tasks: list[list[Any]]) -> list[str]:
    """Tasks nobody depends on: the Makefile's default target must list them all, or make would
    skip tasks that no final-layer task needs."""
    used = {d for _, deps in tasks for d in deps}
    return [n for n, _ in tasks if n not in used]


def check_order(dag: Dag, order: list[str]) -> str | None:
    """Verify an execution log: every task exactly once, dependencies before dependents."""
    pos: dict[str, int] = {}
    for i, name in enumerate(order):
        if name in pos:
            return f"task {name} ran twice"
        pos[name] = i
    for name, deps in dag["tasks"]:
        if name not in pos:
            return f"task {name} never ran ({len(pos)}/{len(dag['tasks'])} ran)"
        for d in deps:
            if pos[d] > pos[name]:
                return f"task {name} ran before its dependency {d}"
    if len(pos) != len(dag["tasks"]):
        return f"unexpected tasks ran: {len(pos)} vs {len(dag['tasks'])}"
    return None


def plan_yaml(dag: Dag, slots: int = 2, command: str = "true") -> str:
    """A phasegate plan: one agent with `slots` slots, one phase, one task per DAG node."""
    out = [
        f"name: bench-{dag['kind']}-{len(dag['tasks'])}",
        "agents:",
        f"  local: {{slots: {slots}}}",
        "phases:",
        "  - id: all",
        "    tasks:",
    ]
    for name, deps in dag["tasks"]:
        needs = f", needs: [{', '.join(deps)}]" if deps else ""
        out.append(f"      - {{id: {name}, run: {json.dumps(command)}, agent: local{needs}}}")
    return "\n".join(out) + "\n"


def makefile(dag: Dag, command: str = "true") -> str:
    """A Makefile with one phony target per DAG node, each running `command`; `all` needs the
    sinks so that every task is built."""
    names = [n for n, _ in dag["tasks"]]
    out = [
        f".PHONY: all {' '.join(names)}",
        f"all: {' '.join(dag['sinks'])}",
    ]
    for name, deps in dag["tasks"]:
        out.append(f"{name}: {' '.join(deps)}".rstrip())
        out.append(f"\t{command}")
    return "\n".join(out) + "\n"
