"""Contingency: what a risk rule does when it fires, besides telling (`notify`, the default).

    risks:
      actions: {machine_pressure: reduce_slots, failure_rate: pause, gate_wait: ask}

`pause` holds the phase under way (as `phasegate pause --phase`); `reduce_slots` takes one slot
from every agent with more than one; `ask` pauses the whole run with a question (the
dashboards prompt like a gate: go on = resume, stop = cancel the run); `{fallback: TASK}`
(engine/fallback.py) runs a task that stood by for the rule. Every action is an operator-like
command by `risk:RULE`, so it is recorded as an event with who did it, and an operator undoes
it the usual way."""

from __future__ import annotations

from collections.abc import Callable

from engine.model import events as ev
from engine.model.state import RunState

Control = Callable[[str, dict[str, object], str], tuple[bool, str]]


def act(
    raised: ev.RiskRaised, action: str, state: RunState, phase: str, control: Control
) -> list[tuple[bool, str]]:
    """Carry out `action` for a risk that was just raised; what each command answered."""
    by = f"risk:{raised.rule}"
    why = f"{raised.subject}: {raised.message}"
    if action == "pause" and phase:
        return [control("pause", {"phase": phase, "reason": why}, by)]
    if action == "ask":
        reason = f"{why}; go on or stop? (a or r in the dashboard; phasegate resume|cancel)"
        return [control("pause", {"reason": reason, "ask": raised.key}, by)]
    if action == "reduce_slots":
        return [
            control("slots", {"agent": a.id, "slots": a.slots - 1}, by)
            for a in state.agents.values()
            if a.slots > 1
        ]
    return []
