"""Who a waiting gate, question or agent's permission request is for, as the engine's policy
says: front ends use it to reach those people (a dashboard's bell, `phasegate gates --wait`) and
nobody else.

Only the engine decides; these answers never allow or refuse anything, they choose whom to tell.
(It imports the engine's gate policy, and with it the plan's model: import it where needed.)
"""

from __future__ import annotations

from phasegate.engine.model.state import ChangeState, GateState, PermissionState, RunState
from phasegate.engine.model.statuses import GateStatus
from phasegate.engine.run.gates import may_answer, may_decide
from phasegate.engine.run.roles import may_operate as may_operate
from phasegate.engine.store.base import Store


def may_decide_gate(state: RunState, gate: GateState, user: str) -> bool:
    """May `user` decide this gate of the run (its approvers, or anyone when it names none;
    never the run's starter when it forbids self-approval)?"""
    return may_answer(gate.approvers, gate.forbid_self_approval, user, state.user)


def gate_deciders(state: RunState, gate: GateState) -> tuple[list[tuple[str, bool]], str]:
    """Who may decide this gate of the run, as `may_decide_gate` judges it, for saying so: its
    approvers (users and `group:NAME`; none: anyone) less the run's starter when the gate
    forbids self-approval, each with whether that starter is left out of it (a group the
    starter is in: its members but the starter), and that starter ("" when nobody is left
    out: the gate allows self-approval, or the starter is not among its approvers anyway)."""
    starter = state.user
    if not (gate.forbid_self_approval and starter and may_decide(gate.approvers, starter)):
        return [(a, False) for a in gate.approvers], ""
    return [(a, may_decide((a,), starter)) for a in gate.approvers if a != starter], starter


def gates_waiting_for(state: RunState, user: str) -> list[GateState | ChangeState]:
    """The run's manual gates, then its change gates (amendments of its plan), that wait for
    a decision `user` may take."""
    if state.finished_at is not None:
        return []
    gates: list[GateState | ChangeState] = [
        g
        for g in state.gates.values()
        if g.status is GateStatus.OPEN
        and g.approval == "manual"
        and user not in g.approved_by
        and may_decide_gate(state, g, user)
    ]
    return gates + [c for c in state.changes.values() if may_decide_change(state, c, user)]


def may_answer_question(state: RunState, user: str) -> bool:
    """May `user` answer the run's question (go on or stop)? Whoever may operate the run: its
    starter and the plan's roles.operators."""
    if not state.question or state.finished_at is not None:
        return False
    return may_operate(state, user)


def may_answer_permission(state: RunState, permission: PermissionState, user: str) -> bool:
    """May `user` answer this open permission request of a coding agent (allow or deny its
    tool)? Its approvers when it names any (users or `group:NAME`), else whoever may operate
    the run, as the engine judges it (engine/run/talks.py)."""
    if permission.status != "open" or state.finished_at is not None:
        return False
    if permission.approvers:
        return may_decide(permission.approvers, user)
    return may_operate(state, user)


def may_decide_change(state: RunState, change: ChangeState, user: str) -> bool:
    """May `user` decide this amendment at its change gate? Its approvers (the plan's
    roles.changes, and the approvers of the gates it weakens) when it names any, else the run's
    starter (engine/run/amend.py); not once they have approved it."""
    if change.status is not GateStatus.OPEN or state.finished_at is not None:
        return False
    if user in change.approved_by:  # (it waits for others: a second approval is refused)
        return False
    if change.approvers:
        return may_decide(change.approvers, user)
    return user == state.user


async def rewind_rule(
    store: Store, run_id: str, plan_path: str, gate: str
) -> tuple[str, int] | None:
    """The gate's `on_reject: {rewind_to, max_attempts}` in the run's kept plan (amended, if it
    was), as (phase, max_attempts); None when a rejection of it fails the run (or the plan was
    not kept)."""
    from phasegate.engine.report.make import plan_of

    plan = await plan_of(store, run_id, plan_path)
    found = next((g for g in plan.gates if g.id == gate), None) if plan is not None else None
    rule = found.on_reject if found is not None else None
    if rule is None or rule.rewind_to is None:
        return None
    return rule.rewind_to, rule.max_attempts
