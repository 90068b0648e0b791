"""Semantic checks of a plan, on the raw parsed data so that every problem is found in one pass.

Each check tolerates malformed neighbours (the model reports those) and yields a `Flaw`: a key
path and a message; the loader places it on its line. Here: the variables, the agents, the
phases and tasks (what they name, their needs, dependency cycles); what oversees the run (gates,
feedback, research, monitors) is plan.check_oversight's, fallbacks plan.fallbacks'.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from phasegate.engine.plan.agents import identity_problem
from phasegate.engine.plan.check_oversight import check_gates, check_monitors, check_research
from phasegate.engine.plan.fallbacks import check_fallbacks
from phasegate.engine.plan.flaws import HINT_BUDGET, Flaw, Names, has_cycle
from phasegate.engine.plan.flaws import ID as _ID
from phasegate.engine.plan.flaws import as_str as _str
from phasegate.engine.plan.flaws import dicts as _dicts
from phasegate.engine.plan.flaws import mapping as _mapping
from phasegate.engine.plan.flaws import unknown_names as _unknown_names
from phasegate.engine.plan.messages import cut as _cut
from phasegate.engine.plan.messages import cycle_of
from phasegate.engine.plan.model import AGENT_AND_CAPABILITY
from phasegate.engine.plan.repo import branch_flaws
from phasegate.engine.plan.template import BUILTINS, CONTEXTUAL, names_in


def semantic_problems(data: dict[str, Any], extra_vars: Iterable[str] = ()) -> Iterator[Flaw]:
    budget = [HINT_BUDGET]
    agents = _mapping(data.get("agents"))
    resources = _mapping(data.get("resources"))
    phases = _dicts(data.get("phases"))
    variables = _mapping(data.get("vars"))
    yield from _check_vars(variables)
    yield from _check_raw_vars(data.get("raw_vars"), variables, extra_vars)
    known = Names(
        {str(v) for v in variables} | set(BUILTINS) | set(extra_vars),
        budget,
    )

    capabilities: set[str] = set()
    for a in agents.values():
        if isinstance(a, dict) and isinstance(a.get("capabilities"), list):
            capabilities.update(c for c in a["capabilities"] if isinstance(c, str))
    # `agents:` the model refuses (no mapping of agents, an agent or its `capabilities` of the
    # wrong type): said once there, not again by every task that names one
    read = bool(agents) and all(
        isinstance(a, dict) and isinstance(a.get("capabilities", []), list) for a in agents.values()
    )

    yield from _check_agents(agents, known, budget)
    yield from check_research(_dicts(data.get("research")), known, budget)
    yield from check_monitors(_dicts(data.get("monitors")), known)
    if isinstance(data.get("notify"), str):
        yield from _unknown_names(data["notify"], known, ("notify",))
    for pi, phase in _dicts(data.get("phases")):
        yield from check_monitors(_dicts(phase.get("monitors")), known, ("phases", pi))

    # phases and tasks: ids, positions
    phase_ids: dict[str, int] = {}
    where: dict[str, tuple[int, int]] = {}  # task id -> (phase index, task index)
    for pi, phase in phases:
        pid = _str(phase.get("id"))
        if pid is not None:
            if pid in phase_ids:
                yield Flaw(
                    ("phases", pi, "id"),
                    False,
                    (
                        f"duplicate phase id '{_cut(pid)}' (first at phases[{phase_ids[pid]}]); "
                        "phase ids must be unique: rename one"
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
                yield Flaw(
                    ("phases", pi, "tasks", ti, "id"),
                    False,
                    (
                        f"duplicate task id '{_cut(tid)}' (first at phases[{fp}].tasks[{ft}]); "
                        "task ids must be unique in a plan: rename one"
                    ),
                )
            else:
                where[tid] = (pi, ti)

    ctx = _TaskContext(
        agents=Names(agents, budget),
        capabilities=Names(capabilities, budget),
        resources=Names(resources, budget),
        capacities=resources,
        tasks=Names(where, budget),
        known=known,
        outside=data.get("absolute_outputs") is True,
        defined=bool(agents),
        read=read,
        kinds={
            str(name): str(a.get("kind", "command"))
            for name, a in agents.items()
            if isinstance(a, dict)
        },
    )
    edges: dict[str, list[str]] = {t: [] for t in where}
    for pi, phase in phases:
        for ti, task in _dicts(phase.get("tasks")):
            base: tuple[str | int, ...] = ("phases", pi, "tasks", ti)
            tid = _str(task.get("id"))
            label = f"task '{_cut(tid)}'" if tid is not None else "this task"
            yield from _check_task(task, base, label, ctx)
            needs = task.get("needs")
            for ni, need in enumerate(needs if isinstance(needs, list) else []):
                if not isinstance(need, str) or len(need) > 200 or not _ID.match(need):
                    continue  # the model reports it
                if need == tid:
                    yield Flaw(
                        (*base, "needs", ni), False, f"{label} needs itself; remove '{_cut(need)}'"
                    )
                elif need not in where:
                    yield Flaw(
                        (*base, "needs", ni),
                        False,
                        (
                            f"{label} needs '{_cut(need)}', which is not a task of this plan"
                            f"{ctx.tasks.hint(need)}; known tasks: {ctx.tasks.listing()}"
                        ),
                    )
                elif where[need][0] > pi:
                    yield Flaw(
                        (*base, "needs", ni),
                        False,
                        (
                            f"{label} needs '{_cut(need)}' of a later phase; phases run in order, "
                            "so move one of them"
                        ),
                    )
                elif tid is not None and where.get(tid) == (pi, ti):
                    edges[tid].append(need)
    yield from _check_cycles(edges, where)
    yield from branch_flaws(data)  # (the ids of tasks in worktrees name git branches)
    yield from check_fallbacks(data, phases, where, edges, ctx.tasks)
    yield from check_gates(data, phase_ids, known, budget)


class _TaskContext(msgspec.Struct, frozen=True):
    """What a task's references are checked against."""

    agents: Names
    capabilities: Names
    resources: Names
    capacities: dict[str, Any]  # resource name -> its raw spec
    tasks: Names
    known: Names
    outside: bool = False  # `outputs` may name files outside the workdir
    kinds: dict[str, str] = {}  # agent -> its kind
    defined: bool = True  # `agents:` is a mapping of agents (else: no agent is checked)
    read: bool = True  # and the model reads every one (else: capabilities are not checked)


def _check_raw_vars(
    raw: object, variables: dict[Any, Any], extra_vars: Iterable[str]
) -> Iterator[Flaw]:
    declared = {str(v) for v in variables} | set(extra_vars)
    for i, name in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(name, str) and name not in declared:
            yield Flaw(
                ("raw_vars", i),
                False,
                f"raw_vars names '{_cut(name)}', which is not in `vars:`; "
                f"declared: {', '.join(sorted(declared)) or 'none'}",
            )


def _check_vars(variables: dict[Any, Any]) -> Iterator[Flaw]:
    for name in variables:
        if not isinstance(name, str):
            continue  # the model reports a key that is not text
        if not name.isidentifier() or not name.isascii():
            yield Flaw(
                ("vars", name),
                True,
                (
                    f"variable name '{_cut(name)}' cannot be used as {{{_cut(name)}}}; "
                    "use letters, digits and '_', not starting with a digit (ASCII letters "
                    "only: a-z, A-Z)"
                ),
            )
        elif name in BUILTINS:
            yield Flaw(
                ("vars", name),
                True,
                (
                    f"'{_cut(name)}' is a built-in variable, set by phasegate; "
                    f"choose another name (built-ins: {', '.join(BUILTINS)})"
                ),
            )


def reserved_vars(data: dict[str, Any]) -> Iterator[Flaw]:
    """Warnings: a variable of the plan named as one phasegate sets where it uses it
    (`{script}`, `{query}`): its value is not what that place gets. Not a problem: a run's kept
    plan with one still loads (to show it, to take the run over)."""
    variables = data.get("vars")
    for name in variables if isinstance(variables, dict) else ():
        if name in CONTEXTUAL:
            yield Flaw(
                ("vars", name),
                True,
                (
                    f"'{name}' is set by phasegate {CONTEXTUAL[name]}: this variable's value is "
                    "not used there; choose another name (reserved: "
                    f"{', '.join(CONTEXTUAL)})"
                ),
            )


def identity_flaws(data: dict[str, Any], workdir: str) -> Iterator[Flaw]:
    """An SSH agent's key file (`ssh.identity`) that a run could not read from the plan's
    `workdir`: a warning (for a run too: its agent may have no task, or the key be made)."""
    for name, agent in _mapping(data.get("agents")).items():
        identity = _mapping(_mapping(agent).get("ssh")).get("identity")
        if isinstance(identity, str) and identity and (why := identity_problem(identity, workdir)):
            yield Flaw(("agents", name, "ssh", "identity"), False, why)


def _check_agents(agents: dict[str, Any], known: Names, budget: list[int]) -> Iterator[Flaw]:
    # a readiness probe runs before any task, so {task} means nothing there
    probe_known = Names(set(known.names) - {"task"}, budget)
    for name, agent in agents.items():
        if not isinstance(agent, dict):
            continue
        command = agent.get("command")
        if isinstance(command, str):
            if "script" not in names_in(command):
                yield Flaw(
                    ("agents", name, "command"),
                    False,
                    (
                        "an agent command must contain {script}, where the task's command goes; "
                        'e.g. "bash -c {script}"'
                    ),
                )
            with_script = Names(set(known.names) | {"script"}, budget)
            yield from _unknown_names(command, with_script, ("agents", name, "command"))
        if isinstance(agent.get("ready"), str):
            yield from _unknown_names(agent["ready"], probe_known, ("agents", name, "ready"))
        if agent.get("kind") == "acp" and not str(agent.get("binary") or "").strip():
            yield Flaw(
                ("agents", name, "kind"),
                False,
                "an agent of kind acp needs `binary`, the command of an agent that speaks the "
                "Agent Client Protocol on stdio (its `args` follow it); e.g. `binary: gemini`, "
                "`args: [--acp]`, or use `kind: gemini`",
            )


def _check_task(
    task: dict[str, Any], base: tuple[str | int, ...], label: str, ctx: _TaskContext
) -> Iterator[Flaw]:
    agent, capability = _str(task.get("agent")), _str(task.get("capability"))
    if agent is not None and ctx.defined and agent not in ctx.agents:
        yield Flaw(
            (*base, "agent"),
            False,
            (
                f"agent '{_cut(agent)}' is not defined{ctx.agents.hint(agent)}; "
                f"defined agents: {ctx.agents.listing()}"
            ),
        )
    if capability is not None and ctx.read and capability not in ctx.capabilities:
        yield Flaw(
            (*base, "capability"),
            False,
            (
                f"no agent has capability '{_cut(capability)}'{ctx.capabilities.hint(capability)}; "
                f"capabilities: {ctx.capabilities.listing()} (an agent's `capabilities:` "
                "lists what it can run)"
            ),
        )
    if agent and capability:
        yield Flaw(base, False, AGENT_AND_CAPABILITY)
    if task.get("agent") is None and task.get("capability") is None and len(ctx.agents.names) > 1:
        yield Flaw(
            base,
            False,
            (
                f"{label} names neither `agent` nor `capability`, and the plan has several "
                f"agents ({ctx.agents.listing()}); add `agent: NAME` or `capability: NAME`"
            ),
        )
    uses = task.get("uses")
    for res, amount in uses.items() if isinstance(uses, dict) else []:
        if not isinstance(res, str):
            continue  # the model reports a key that is not text
        if res not in ctx.resources:
            yield Flaw(
                (*base, "uses", res),
                True,
                (
                    f"unknown resource '{_cut(res)}'{ctx.resources.hint(res)}; "
                    f"resources: {ctx.resources.listing()} (define it under `resources:`)"
                ),
            )
            continue
        spec = ctx.capacities[res]
        cap = spec.get("capacity", 1) if isinstance(spec, dict) else None
        if (
            isinstance(cap, int)
            and isinstance(amount, int)
            and not isinstance(amount, bool)
            and amount > cap
        ):
            yield Flaw(
                (*base, "uses", res),
                False,
                (
                    f"{label} asks for {amount} of '{_cut(res)}', whose capacity is {cap}; "
                    "lower the request or raise the capacity"
                ),
            )
    if isinstance(task.get("run"), str):
        yield from _unknown_names(task["run"], ctx.known, (*base, "run"))
    if isinstance(task.get("prompt"), str):
        yield from _unknown_names(task["prompt"], ctx.known, (*base, "prompt"))
        agent = task.get("agent")
        kind = ctx.kinds.get(agent, "") if isinstance(agent, str) else "command"
        if kind == "command" and not str(task.get("run") or "").strip():
            yield Flaw(
                (*base, "prompt"),
                False,
                f"{label} has a `prompt`, but "
                + (f"agent '{_cut(agent)}' runs commands" if isinstance(agent, str) else "no "
                   "coding agent is named to answer it")
                + "; give `run`, or `agent:` a coding agent (kind: claude)",
            )  # fmt: skip
    outputs = task.get("outputs")
    for oi, out in enumerate(outputs if isinstance(outputs, list) else []):
        if isinstance(out, str):
            yield from _unknown_names(out, ctx.known, (*base, "outputs", oi))
            if not ctx.outside and leaves_workdir(out):
                yield Flaw(
                    (*base, "outputs", oi),
                    False,
                    f"{label}: its output '{_cut(out)}' is outside the workdir; a hand-off names "
                    "files under it (or set `absolute_outputs: true` to allow this)",
                )


def _check_cycles(edges: dict[str, list[str]], where: dict[str, tuple[int, int]]) -> Iterator[Flaw]:
    """Kahn's algorithm finds whether there is a cycle; networkx names each one (only then: a
    valid plan never imports it; docs/dag.md has the figures)."""
    if not has_cycle(edges):
        return
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_edges_from((t, n) for t, needs in edges.items() for n in needs)
    components = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    for comp in sorted(components, key=lambda c: min(where[t] for t in c)):
        start = min(comp, key=lambda t: where[t])
        cycle = nx.find_cycle(graph.subgraph(comp), source=start)
        pi, ti = where[start]
        yield Flaw(
            ("phases", pi, "tasks", ti, "needs"),
            False,
            f"dependency cycle: {cycle_of([u for u, _ in cycle])} (each needs the next); "
            "remove one of these needs",
        )


def leaves_workdir(path: str, workdir: str | None = None) -> bool:
    """Does a hand-off path leave the workdir (~, climbing out with ../, or absolute)? With the
    run's `workdir` (a path whose placeholders are filled in: engine/run/endings), an absolute
    path under it stays; without (the plan's text, where `{workdir}/x` names one), none does."""
    if path.startswith("~"):
        return True
    if os.path.isabs(path):
        if workdir is None:
            return True
        path = os.path.relpath(os.path.normpath(path), os.path.normpath(workdir))
    return os.path.normpath(path).split(os.sep)[0] == os.pardir
