"""Fallback tasks in a plan: `on_failure: {fallback: F}` (F stands in for a task that fails) and
a risk rule's `{fallback: F}` action (F runs when the rule fires): their checks, and who stands
in for whom (`fallbacks`, `risk_fallbacks`), which the run and the dry run share."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from phasegate.engine.plan.flaws import Flaw, Names
from phasegate.engine.plan.flaws import as_str as _str
from phasegate.engine.plan.flaws import dicts as _dicts
from phasegate.engine.plan.flaws import mapping as _mapping
from phasegate.engine.plan.messages import cut as _cut
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
