"""The warning for a dollar budget that nothing can measure: `budget: {usd: ...}` on an agent, a
task, a phase or the run, whose coding agents report no dollars and have no `price:` to compute
them from their tokens (the budget never warns or stops; its spending shows as unknown)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from phasegate.engine.plan.flaws import Flaw, dicts, mapping
from phasegate.engine.plan.messages import cut

# what each kind's CLI reports (engine/agents): Claude Code's result carries `total_cost_usd`;
# Codex and ACP agents (Gemini CLI too) report tokens only, priced by the agent's `price:`;
# a command reports nothing
REPORTS_DOLLARS = frozenset({"claude"})
REPORTS_TOKENS = frozenset({"codex", "gemini", "acp"})
KINDS = REPORTS_DOLLARS | REPORTS_TOKENS | {"command"}


def usd_warnings(data: dict[str, Any]) -> Iterator[Flaw]:
    """Warnings: a `usd:` budget none of whose agents can tell dollars. Not a problem: a run's
    kept plan with one still loads (to show it, to take the run over)."""
    agents = {str(n): a for n, a in mapping(data.get("agents")).items() if isinstance(a, dict)}
    blind = {n for n, a in agents.items() if not _measured(a)}  # (those that cannot tell)
    for name, agent in agents.items():
        if _usd(agent) and name in blind:
            kind = _kind(agent)
            why = f"agent '{cut(name)}' (kind {kind}) {_says(kind)}"
            yield _flaw(("agents", name), why, kind, "it")
    for pi, phase in dicts(data.get("phases")):
        tasks = [(ti, task, _agents_of(task, agents)) for ti, task in dicts(phase.get("tasks"))]
        of_phase = set().union(*(on for _, _, on in tasks))
        if _usd(phase) and of_phase and of_phase <= blind:
            label = f"the tasks of phase '{cut(str(phase.get('id')))}' run on"
            yield _flaw(("phases", pi), *_on(label, of_phase, agents))
        for ti, task, on in tasks:
            if _usd(task) and on and on <= blind:
                label = f"task '{cut(str(task.get('id')))}' runs on"
                yield _flaw(("phases", pi, "tasks", ti), *_on(label, on, agents))
    if _usd(data) and agents and set(agents) <= blind:
        yield _flaw((), *_on("the plan's tasks run on", set(agents), agents))


def _usd(entry: dict[str, Any]) -> bool:
    usd = mapping(entry.get("budget")).get("usd")  # (not a number above 0: the model says so)
    return isinstance(usd, int | float) and not isinstance(usd, bool) and usd > 0


def _kind(agent: dict[str, Any]) -> str:
    kind = agent.get("kind", "command")
    return kind if isinstance(kind, str) else ""


def _measured(agent: dict[str, Any]) -> bool:
    """Can what the agent spends be told in dollars? (An unknown kind is the model's problem.)"""
    kind = _kind(agent)
    if kind in REPORTS_TOKENS:
        return isinstance(agent.get("price"), dict)
    return kind in REPORTS_DOLLARS or kind not in KINDS


def _agents_of(task: dict[str, Any], agents: dict[str, dict[str, Any]]) -> set[str]:
    """The agents the task may run on, as the scheduler places it (none: the checks say why)."""
    name, capability = task.get("agent"), task.get("capability")
    if isinstance(name, str):
        return {name} if name in agents else set()
    if isinstance(capability, str):
        return {n for n, a in agents.items() if capability in (a.get("capabilities") or ())}
    return set(agents) if len(agents) == 1 and name is None else set()


def _says(kind: str) -> str:
    """What an agent of this kind, that cannot tell dollars, reports."""
    if kind in REPORTS_TOKENS:
        return "reports tokens, not dollars, and has no `price:`"
    return "reports no spending"


def _on(label: str, on: set[str], agents: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    """Why (`label`, then the agents `on`), the kind of them all ("" for several kinds) and
    whom to give a `price:`."""
    names = sorted(on)
    kinds = {_kind(agents[n]) for n in names}
    kind = kinds.pop() if len(kinds) == 1 else ""
    if len(names) == 1:
        agent = f"agent '{cut(names[0])}'"
        return f"{label} {agent} (kind {kind}), which {_says(kind)}", kind, agent
    listing = ", ".join(cut(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
    why = f"{label} agents ({listing}), none of which reports dollars or has a `price:`"
    return why, kind, "its codex, gemini or acp agents"


def _flaw(base: tuple[str | int, ...], why: str, kind: str, whom: str) -> Flaw:
    if kind == "command":
        fix = (
            "dollars are counted for coding agents only (kind claude; codex, gemini or acp "
            "with a `price:`)"
        )
    else:
        fix = (
            f"give {whom} `price: {{input: USD, output: USD}}` (USD per million tokens), or "
            "budget `tokens:` instead (kind claude reports dollars itself)"
        )
    message = f"this usd budget cannot be measured, so it never warns or stops: {why}; {fix}"
    return Flaw((*base, "budget", "usd"), True, message)
