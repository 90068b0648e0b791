"""Who may do what on a run: the run's starter and the plan's `roles.operators` operate it
(pause, resume, cancel, retry, skip, slots, priority, notes); each gate's approvers decide it;
everybody else who reaches a shared run observes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.run.gates import may_decide

if TYPE_CHECKING:
    from phasegate.engine.plan.model import Roles


def may_operate(roles: Roles | None, user: str, starter: str) -> bool:
    if user == starter:
        return True
    return bool(roles and roles.operators and may_decide(roles.operators, user))
