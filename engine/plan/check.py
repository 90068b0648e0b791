"""Semantic checks of a plan, on the raw parsed data so that every problem is found in one pass.

Each check tolerates malformed neighbours (the model reports those); it yields
(key path, whether the key itself is meant, message).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from .template import BUILTINS, names_in

Found = tuple[tuple[str | int, ...], bool, str]


def _dym(name: str, choices: Iterable[str]) -> str:
    hint = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") if names else "none"


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
        if isinstance(value, list)
        else []
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def semantic_problems(data: dict[str, Any], extra_vars: Iterable[str] = ()) -> Iterator[Found]:
    agents = data.get("agents") if isinstance(data.get("agents"), dict) else {}
    resources = data.get("resources") if isinstance(data.get("resources"), dict) else {}
    phases = _dicts(data.get("phases"))
    variables = set(data["vars"]) if isinstance(data.get("vars"), dict) else set()
    known = variables | set(BUILTINS) | set(extra_vars)

    capabilities: set[str] = set()
    for a in agents.values():
        if isinstance(a, dict) and isinstance(a.get("capabilities"), list):
            capabilities.update(c for c in a["capabilities"] if isinstance(c, str))

    yield from _check_templates_in_agents(agents, known)

    # phases and tasks: ids, positions
    phase_ids: dict[str, int] = {}
    where: dict[str, tuple[int, int]] = {}  # task id -> (phase index, task index)
    for pi, phase in phases:
        pid = _str(phase.get("id"))
        if pid is not None:
            if pid in phase_ids:
                yield (
                    ("phases", pi, "id"),
                    False,
                    (
                        f"duplicate phase id '{pid}' (first at phases[{phase_ids[pid]}]); "
                        "phase ids must be unique"
                    ),
                )
            else:
                phase_ids[pid] = pi
        for ti, task in _dicts(phase.get("tasks")):
            tid = _str(task.get("id"))
            if tid is None:
                continue
            if tid in where:
                fp, ft = where[tid]
                yield (
                    ("phases", pi, "tasks", ti, "id"),
                    False,
                    (
                        f"duplicate task id '{tid}' (first at phases[{fp}].tasks[{ft}]); "
                        "task ids must be unique in a plan"
                    ),
                )
            else:
                where[tid] = (pi, ti)

    edges: dict[str, list[str]] = {t: [] for t in where}
    for pi, phase in phases:
        for ti, task in _dicts(phase.get("tasks")):
            base = ("phases", pi, "tasks", ti)
            tid = _str(task.get("id")) or f"#{ti}"
            yield from _check_task(task, base, tid, pi, agents, capabilities, resources, known)
            needs = task.get("needs")
            for ni, need in enumerate(needs if isinstance(needs, list) else []):
                if not isinstance(need, str):
                    continue
                if need == tid:
                    yield (*base, "needs", ni), False, f"task '{tid}' needs itself; remove it"
                elif need not in where:
                    yield (
                        (*base, "needs", ni),
                        False,
                        (
                            f"task '{tid}' needs '{need}', which is not a task of this plan"
                            f"{_dym(need, where)}; known tasks: {_listing(where)}"
                        ),
                    )
                elif where[need][0] > pi:
                    yield (
                        (*base, "needs", ni),
                        False,
                        (
                            f"task '{tid}' needs '{need}' of a later phase; phases run in order, "
                            "so move one of them"
                        ),
                    )
                elif where.get(tid) == (pi, ti):
                    edges[tid].append(need)
    yield from _check_cycles(edges, where)

    for gi, gate in _dicts(data.get("gates")):
        after = _str(gate.get("after"))
        if after is not None and after not in phase_ids:
            yield (
                ("gates", gi, "after"),
                False,
                (
                    f"gate after '{after}', which is not a phase{_dym(after, phase_ids)}; "
                    f"phases: {_listing(phase_ids)}"
                ),
            )
        on_reject = gate.get("on_reject")
        rewind = _str(on_reject.get("rewind_to")) if isinstance(on_reject, dict) else None
        if rewind is not None and rewind not in phase_ids:
            yield (
                ("gates", gi, "on_reject", "rewind_to"),
                False,
                (
                    f"rewind_to '{rewind}' is not a phase{_dym(rewind, phase_ids)}; "
                    f"phases: {_listing(phase_ids)}"
                ),
            )
        for ci, crit in _dicts(gate.get("criteria")):
            if isinstance(crit.get("run"), str):
                yield from _unknown_names(crit["run"], known, ("gates", gi, "criteria", ci, "run"))


def _check_templates_in_agents(agents: dict[str, Any], known: set[str]) -> Iterator[Found]:
    for name, agent in agents.items():
        if not isinstance(agent, dict):
            continue
        command = agent.get("command")
        if isinstance(command, str):
            if "script" not in names_in(command):
                yield (
                    ("agents", name, "command"),
                    False,
                    (
                        "an agent command must contain {script}, where the task's command goes; "
                        'e.g. "bash -c {script}"'
                    ),
                )
            yield from _unknown_names(command, known | {"script"}, ("agents", name, "command"))
        if isinstance(agent.get("ready"), str):
            yield from _unknown_names(agent["ready"], known, ("agents", name, "ready"))


def _unknown_names(text: str, known: set[str], path: tuple[str | int, ...]) -> Iterator[Found]:
    for name in names_in(text):
        if name not in known:
            yield (
                path,
                False,
                (
                    f"unknown variable {{{name}}}{_dym(name, known)}; define it under `vars:`, "
                    "pass --var, or write {{ and }} for literal braces"
                ),
            )


def _check_task(
    task: dict[str, Any],
    base: tuple[str | int, ...],
    tid: str,
    phase_index: int,
    agents: dict[str, Any],
    capabilities: set[str],
    resources: dict[str, Any],
    known: set[str],
) -> Iterator[Found]:
    agent, capability = _str(task.get("agent")), _str(task.get("capability"))
    if agent is not None and agent not in agents:
        yield (
            (*base, "agent"),
            False,
            (
                f"agent '{agent}' is not defined{_dym(agent, agents)}; defined agents: {_listing(agents)}"
            ),
        )
    if capability is not None and capability not in capabilities:
        yield (
            (*base, "capability"),
            False,
            (
                f"no agent has capability '{capability}'{_dym(capability, capabilities)}; "
                f"capabilities: {_listing(capabilities)}"
            ),
        )
    if agent is None and capability is None and "agent" not in task and len(agents) > 1:
        yield (
            base,
            False,
            (
                f"task '{tid}' names neither `agent` nor `capability`; with several agents, say which"
            ),
        )
    uses = task.get("uses")
    for res, amount in uses.items() if isinstance(uses, dict) else []:
        if res not in resources:
            yield (
                (*base, "uses", res),
                True,
                (
                    f"unknown resource '{res}'{_dym(res, resources)}; resources: {_listing(resources)}"
                ),
            )
            continue
        spec = resources[res]
        cap = spec.get("capacity", 1) if isinstance(spec, dict) else None
        if isinstance(cap, int) and isinstance(amount, int) and amount > cap:
            yield (
                (*base, "uses", res),
                False,
                (
                    f"task '{tid}' asks for {amount} of '{res}', whose capacity is {cap}; "
                    "lower the request or raise the capacity"
                ),
            )
    for key in ("run",):
        if isinstance(task.get(key), str):
            yield from _unknown_names(task[key], known, (*base, key))
    outputs = task.get("outputs")
    for oi, out in enumerate(outputs if isinstance(outputs, list) else []):
        if isinstance(out, str):
            yield from _unknown_names(out, known, (*base, "outputs", oi))


def _check_cycles(
    edges: dict[str, list[str]], where: dict[str, tuple[int, int]]
) -> Iterator[Found]:
    """Kahn's algorithm finds whether there is a cycle; networkx names each one (only then)."""
    indegree = {t: 0 for t in edges}
    dependents: dict[str, list[str]] = {t: [] for t in edges}
    for t, needs in edges.items():
        for n in needs:
            indegree[t] += 1
            dependents[n].append(t)
    queue = [t for t, d in indegree.items() if d == 0]
    seen = 0
    while queue:
        t = queue.pop()
        seen += 1
        for d in dependents[t]:
            indegree[d] -= 1
            if indegree[d] == 0:
                queue.append(d)
    if seen == len(edges):
        return
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_edges_from((t, n) for t, needs in edges.items() for n in needs if indegree[t])
    components = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    for comp in sorted(components, key=lambda c: min(where[t] for t in c)):
        start = min(comp, key=lambda t: where[t])
        cycle = nx.find_cycle(graph.subgraph(comp), source=start)
        names = [u for u, _ in cycle] + [cycle[0][0]]
        pi, ti = where[start]
        yield (
            ("phases", pi, "tasks", ti, "needs"),
            False,
            (f"dependency cycle: {' -> '.join(names)}; remove one of these needs"),
        )
