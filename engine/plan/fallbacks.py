"""Fallback tasks in a plan: `on_failure: {fallback: F}` (F stands in for a task that fails) and
a risk rule's `{fallback: F}` action (F runs when the rule fires): their checks, and who stands
in for whom (`fallbacks`, `risk_fallbacks`), which the run and the dry run share."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from phasegate.engine.plan.flaws import Flaw, Names, has_cycle
from phasegate.engine.plan.flaws import as_str as _str
from phasegate.engine.plan.flaws import dicts as _dicts
from phasegate.engine.plan.flaws import mapping as _mapping
from phasegate.engine.plan.messages import cut as _cut
from phasegate.engine.plan.messages import cycle_of
from phasegate.engine.plan.model import OnFailureFallback, Plan, RuleFallback


def check_fallbacks(
    data: dict[str, Any],
    phases: list[tuple[int, dict[str, Any]]],
    where: dict[str, tuple[int, int]],
    edges: dict[str, list[str]],
    tasks: Names,
) -> Iterator[Flaw]:
    taken = yield from _on_failure(phases, where, edges, tasks)
    yield from _risk_actions(_mapping(data.get("risks")), where, edges, taken, tasks)
    yield from _waits_forever(where, edges, taken)


def _on_failure(
    phases: list[tuple[int, dict[str, Any]]],
    where: dict[str, tuple[int, int]],
    edges: dict[str, list[str]],
    tasks: Names,
) -> Generator[Flaw, None, dict[str, str]]:
    """`on_failure: {fallback: F}`: F is another task of the same phase, the fallback of one
    task only, and does not need the task it stands in for."""
    taken: dict[str, str] = {}
    for pi, phase in phases:
        for ti, task in _dicts(phase.get("tasks")):
            rule = task.get("on_failure")
            tid = _str(task.get("id"))
            if not isinstance(rule, dict) or tid is None:
                continue
            fb = _str(rule.get("fallback"))
            if fb is None:
                continue
            path = ("phases", pi, "tasks", ti, "on_failure", "fallback")
            label = f"task '{_cut(tid)}'"
            if fb == tid:
                yield Flaw(path, False, f"{label} is its own fallback; name another task")
            elif fb not in where:
                yield Flaw(
                    path,
                    False,
                    f"fallback '{_cut(fb)}' is not a task of this plan{tasks.hint(fb)}; "
                    f"known tasks: {tasks.listing()}",
                )
            elif where[fb][0] != pi:
                yield Flaw(
                    path,
                    False,
                    f"fallback '{_cut(fb)}' is in another phase; move it to the phase of {label}",
                )
            elif fb in taken:
                yield Flaw(
                    path,
                    False,
                    f"'{_cut(fb)}' is the fallback of '{_cut(taken[fb])}' already; a task "
                    "stands in for one other at most",
                )
            elif tid in edges.get(fb, []):
                yield Flaw(
                    path,
                    False,
                    f"fallback '{_cut(fb)}' needs {label}, the task it stands in for; "
                    "drop that need",
                )
            else:
                taken[fb] = tid
    return taken


def _risk_actions(
    risks: dict[str, Any],
    where: dict[str, tuple[int, int]],
    edges: dict[str, list[str]],
    taken: dict[str, str],
    tasks: Names,
) -> Iterator[Flaw]:
    """`risks.actions: {RULE: {fallback: F}}`: F is a task of the plan that stands by until the
    rule fires; nothing needs it (its phase could not end without it) and it is no task's
    `on_failure` fallback too."""
    needed = {need for needs in edges.values() for need in needs}
    for rule, action in _mapping(risks.get("actions")).items():
        if not isinstance(action, dict):
            continue
        fb = _str(action.get("fallback"))
        if fb is None:
            continue
        path = ("risks", "actions", rule, "fallback")
        if fb not in where:
            yield Flaw(
                path,
                False,
                f"fallback '{_cut(fb)}' is not a task of this plan{tasks.hint(fb)}; "
                f"known tasks: {tasks.listing()}",
            )
        elif fb in taken:
            yield Flaw(
                path,
                False,
                f"'{_cut(fb)}' is the on_failure fallback of '{_cut(taken[fb])}' already; "
                "name a task of its own for the rule",
            )
        elif fb in needed:
            users = sorted(t for t, needs in edges.items() if fb in needs)
            yield Flaw(
                path,
                False,
                f"'{_cut(fb)}' runs only if the rule fires, but '{_cut(users[0])}' needs it; "
                "drop that need",
            )


def _waits_forever(
    where: dict[str, tuple[int, int]], edges: dict[str, list[str]], taken: dict[str, str]
) -> Iterator[Flaw]:
    """A cycle of waits that a fallback closes: a fallback waits for its task to fail, and
    whoever needs that task waits for the fallback then. `a: {fallback: b}` with
    `b: {fallback: a}`, or a fallback that needs a dependent of its task: none of the cycle
    could ever start, and the run would wait forever. (A cycle of needs alone is the plan's
    dependency cycle, reported on its own.)"""
    if not taken:
        return
    fallback_of = {task: fb for fb, task in taken.items()}
    # u -> v: u waits for v; its kind: a need, a fallback's own task, a need's fallback (via)
    waits: dict[str, dict[str, tuple[str, str]]] = {t: {} for t in edges}
    for t, needs in edges.items():
        for n in needs:
            waits[t].setdefault(n, ("need", ""))
    for fb, task in taken.items():
        waits[fb].setdefault(task, ("standby", ""))
    for t, needs in edges.items():
        for n in needs:
            stands_in = fallback_of.get(n)
            if stands_in is not None and stands_in != t:
                waits[t].setdefault(stands_in, ("via", n))
    if not has_cycle(waits):
        return
    import networkx as nx  # (only for a plan with a mistake: a valid plan never imports it)

    graph = nx.DiGraph()
    graph.add_edges_from((u, v) for u, vs in waits.items() for v in vs)
    shown: list[tuple[tuple[int, int], Flaw]] = []
    for comp in nx.strongly_connected_components(graph):
        closing = sorted(  # (placed at the first `on_failure` that closes it)
            (where[v if kind == "standby" else via], u, v)
            for u in comp
            for v, (kind, via) in waits[u].items()
            if v in comp and kind != "need"
        )
        if not closing:
            continue  # a cycle of needs only
        _, u, v = closing[0]
        cycle = [u, *nx.shortest_path(graph.subgraph(comp), v, u)[:-1]]
        shown.append(_cycle_flaw(cycle, waits, where))
    for _, flaw in sorted(shown):
        yield flaw


def _cycle_flaw(
    cycle: list[str],
    waits: dict[str, dict[str, tuple[str, str]]],
    where: dict[str, tuple[int, int]],
) -> tuple[tuple[int, int], Flaw]:
    """The cycle's flaw, placed at the first `on_failure: {fallback: ...}` that closes it."""
    steps, anchor = [], ""
    for u, v in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        kind, via = waits[u][v]
        if kind == "need":
            steps.append(f"'{_cut(u)}' needs '{_cut(v)}'")
        elif kind == "standby":
            steps.append(f"'{_cut(u)}' runs only if '{_cut(v)}' fails")
            anchor = anchor or v
        else:
            steps.append(
                f"'{_cut(u)}' needs '{_cut(via)}', so waits for its fallback '{_cut(v)}' "
                "if it fails"
            )
            anchor = anchor or via
    shown = steps if len(steps) <= 4 else [*steps[:3], f"... and {len(steps) - 3:,} more"]
    pi, ti = where[anchor]
    flaw = Flaw(
        ("phases", pi, "tasks", ti, "on_failure", "fallback"),
        False,
        f"fallback cycle: {cycle_of(cycle)} ({'; '.join(shown)}), so these tasks could wait for "
        "each other forever and the run never end; drop a need or name another fallback",
    )
    return where[anchor], flaw


def risk_fallbacks(plan: Plan) -> dict[str, str]:
    """task -> the rule whose risk makes it run."""
    return {
        action.fallback: rule
        for rule, action in plan.risks.actions.items()
        if isinstance(action, RuleFallback)
    }


def fallbacks(plan: Plan) -> dict[str, str]:
    """task -> the task that stands in for it if it fails."""
    return {
        t.id: t.on_failure.fallback
        for _, t in plan.tasks()
        if isinstance(t.on_failure, OnFailureFallback)
    }
