"""Contingency: what a risk rule does when it fires, besides telling (`notify`, the default).

    risks:
      actions: {machine_pressure: reduce_slots, failure_rate: pause, gate_wait: ask}

`pause` holds the phase under way (as `phasegate pause --phase`); `reduce_slots` takes one slot
from every agent with more than one when the risk is high or critical (a machine kept busy by
others while the run is not slowed is a medium risk: fewer slots would slow the run for
nothing), and run/monitoring gives them back when the risk no longer holds; `ask` pauses the
whole run with a question (the dashboards prompt like a gate: go on = resume, stop = cancel the
run); `{fallback: TASK}` (engine/run/fallbacks.py) runs a task that stood by for the rule. Every
action is an operator-like command by `risk:RULE`, so it is recorded as an event with who did
it, and an operator undoes it the usual way."""

from __future__ import annotations

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.state import RunState

SERIOUS = ("high", "critical")  # severities at which reduce_slots acts


def act(raised: ev.RiskRaised, action: str, state: RunState, phase: str) -> list[cmd.Command]:
    """The commands that carry out `action` for a risk that was just raised (sent as
    `risk:RULE`)."""
    why = f"{raised.subject}: {raised.message}"
    if action == "pause" and phase:
        return [cmd.Pause(phase, why)]
    if action == "ask":
        reason = f"{why}; go on or stop? (a or r in the dashboard; phasegate resume|cancel)"
        return [cmd.Pause(reason=reason, ask=raised.key)]
    if action == "reduce_slots" and raised.severity in SERIOUS:
        return [cmd.Slots(a.id, a.slots - 1) for a in state.agents.values() if a.slots > 1]
    return []
