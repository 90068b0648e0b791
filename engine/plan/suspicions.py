"""Warnings of a valid plan that will not do what its author likely meant: a task estimated to
run longer than its timeout (or one alone longer than its phase's timebox), a phase of no
tasks, `output_cap: 0` (no output kept), a command agent given a coding agent's `model`.
Read from the plan's data as written; a value the model refuses is left to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from phasegate.engine.model.durations import format_duration, parse_duration
from phasegate.engine.plan.flaws import Flaw
from phasegate.engine.plan.flaws import mapping as _mapping
from phasegate.engine.plan.messages import cut


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
