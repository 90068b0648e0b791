"""Who may do what on a run: the run's starter and the plan's `roles.operators` (the fold has
them, from `run.started`) operate it (pause, resume, cancel, retry, skip, slots, priority,
notes, a coding agent's tool request that names no approvers); each gate's approvers decide it;
everybody else who reaches a shared run observes. The engine judges with this; front ends ask
it only to choose whom to tell (engine/client/policy.py)."""

from __future__ import annotations

from phasegate.engine.model.state import RunState
from phasegate.engine.run.gates import may_decide


def may_operate(state: RunState, user: str) -> bool:
    return user == state.user or bool(state.operators and may_decide(state.operators, user))
