"""Warnings of a valid plan that will not do what its author likely meant: a task estimated to
run longer than its timeout (or one alone longer than its phase's timebox), a phase of no
tasks, `output_cap: 0` (no output kept), a command agent given a coding agent's `model`, a
task with both `run` and `prompt` (its agent's kind uses one), an automatic gate with no
criteria (it checks nothing), a permission rule that cannot be read.
Read from the plan's data as written; a value the model refuses is left to it."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

from phasegate.engine.model.durations import format_duration, parse_duration
from phasegate.engine.plan.agents import RULE, Agent, paired
from phasegate.engine.plan.flaws import Flaw
from phasegate.engine.plan.flaws import mapping as _mapping
from phasegate.engine.plan.messages import cut
from phasegate.engine.plan.shape import fields


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except (ValueError, TypeError, OverflowError):
        return None  # (the model says what is wrong with it)


def suspicions(data: dict[str, Any]) -> Iterator[Flaw]:
    phases = data.get("phases")
    for pi, phase in enumerate(phases if isinstance(phases, list) else ()):
        if not isinstance(phase, dict):
            continue
        pid = cut(str(phase.get("id", pi)))
        tasks = phase.get("tasks")
        if isinstance(tasks, list) and not tasks:
            yield Flaw(("phases", pi, "tasks"), False, f"phase '{pid}' has no tasks")
        timebox = _seconds(phase.get("timebox"))
        for ti, task in enumerate(tasks if isinstance(tasks, list) else ()):
            if not isinstance(task, dict):
                continue
            tid, estimate = cut(str(task.get("id", ti))), _seconds(task.get("estimate"))
            yield from _run_and_prompt(task, ("phases", pi, "tasks", ti), tid, data)
            timeout = _seconds(task.get("timeout"))
            if estimate and timeout and estimate > timeout:
                yield Flaw(
                    ("phases", pi, "tasks", ti, "timeout"),
                    False,
                    f"task '{tid}' is estimated at {format_duration(estimate)}, longer than its "
                    f"timeout of {format_duration(timeout)}: it would be stopped before it is "
                    "expected to end",
                )
            if estimate and timebox and estimate > timebox:
                yield Flaw(
                    ("phases", pi, "tasks", ti, "estimate"),
                    False,
                    f"task '{tid}' alone is estimated at {format_duration(estimate)}, past the "
                    f"timebox of its phase '{pid}' ({format_duration(timebox)})",
                )
    if data.get("output_cap") == 0:
        yield Flaw(
            ("output_cap",), False, "`output_cap: 0` keeps no output of any task (default 16MB)"
        )
    gates = data.get("gates")
    for gi, gate in enumerate(gates if isinstance(gates, list) else ()):
        if isinstance(gate, dict) and gate.get("approval") == "auto" and not gate.get("criteria"):
            after = f"phase '{cut(str(gate['after']))}'" if "after" in gate else "its phase"
            yield Flaw(
                ("gates", gi, "approval"),
                False,
                f"gate '{cut(str(gate.get('id', gi)))}' is `approval: auto` with no `criteria`: "
                f"it passes as soon as {after} ends, checking nothing; add `criteria:`, or "
                "make it `approval: manual` for a person to decide",
            )
    for name, agent in _mapping(data.get("agents")).items():
        agent = _mapping(agent)
        if agent.get("kind", "command") == "command":
            for key in ("model", "permissions"):
                if key in agent:
                    yield Flaw(
                        ("agents", name, key),
                        False,
                        f"agent '{cut(str(name))}': `{key}` is for coding agents (`kind: claude`,"
                        " `codex`, `gemini`, `acp`); a command agent ignores it",
                    )


_KINDS = set(typing.get_args(fields(Agent)["kind"]))


def _run_and_prompt(
    task: dict[str, Any], where: tuple[str | int, ...], tid: str, data: dict[str, Any]
) -> Iterator[Flaw]:
    """A task with both `run` and `prompt` whose agents are all of one sort: a command agent
    runs `run` (the prompt is ignored), a coding agent is asked `prompt` (`run` is ignored)."""
    run, prompt = task.get("run"), task.get("prompt")
    if not (isinstance(run, str) and run.strip() and isinstance(prompt, str) and prompt.strip()):
        return
    agents = {str(n): a for n, a in _mapping(data.get("agents")).items() if isinstance(a, dict)}
    name, capability = task.get("agent"), task.get("capability")
    if isinstance(name, str):
        on, who = [name] if name in agents else [], f"its agent '{cut(name)}'"
    elif isinstance(capability, str):
        on = [n for n, a in agents.items() if capability in _list(a.get("capabilities"))]
        who = f"every agent with capability '{cut(capability)}'"
    else:  # (the plan's one agent, if it has one)
        on = list(agents) if len(agents) == 1 else []
        who = f"its agent '{cut(on[0])}'" if on else ""
    kinds = {agents[n].get("kind", "command") for n in on}
    if not kinds or not kinds <= _KINDS:
        return  # (no agent, or one the model refuses: the checks say so)
    if kinds == {"command"}:
        yield Flaw(
            (*where, "prompt"),
            False,
            f"task '{tid}' has both `run` and `prompt`: {who} runs commands, so its `prompt` is "
            "ignored; remove `prompt`, or name a coding agent (kind: claude) to ask it",
        )
    elif "command" not in kinds:
        yield Flaw(
            (*where, "run"),
            False,
            f"task '{tid}' has both `run` and `prompt`: {who} is a coding agent, asked the "
            "`prompt`, so its `run` is ignored; remove `run`",
        )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def rule_warnings(data: dict[str, Any]) -> Iterator[Flaw]:
    """Warnings: a permission rule that names no tool call as written (a rule not of the form
    `Tool` or `Tool(command)`, or with parentheses that do not pair: Claude Code then drops
    every rule given with it, and the engine matches nothing with it)."""
    for name, agent in _mapping(data.get("agents")).items():
        rules = _mapping(_mapping(agent).get("permissions"))
        for kind in ("allow", "ask", "deny"):
            listed = rules.get(kind)
            for i, rule in enumerate(listed if isinstance(listed, list) else ()):
                if not isinstance(rule, str):
                    continue  # (the model reports it)
                m = RULE.match(rule.strip())
                arg = m.group("arg") if m is not None else None
                if m is None or (arg is not None and not paired(arg)):
                    yield Flaw(
                        ("agents", name, "permissions", kind, i),
                        False,
                        f"rule '{cut(rule)}' cannot be read: write `Tool` or `Tool(command)` "
                        "(`Bash(git diff:*)`), its parentheses paired (Claude Code drops every "
                        "rule given with one that is not: it is not given to it)",
                    )
