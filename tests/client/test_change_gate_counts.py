"""A change gate that weakens a gate waits for more than one approval: `gates` shows how many
(it said `2/1`), and who has approved is not offered to approve again (the dashboard's change
prompt offered `a approve` to her, and the engine refused it)."""

from __future__ import annotations

from phasegate.engine.client.policy import may_decide_change
from phasegate.engine.model.state import ChangeState, RunState


def test_a_change_that_weakens_a_gate_counts_its_approvals_and_asks_each_person_once() -> None:
    weakened = {"what": "gate", "id": "g", "change": "changed", "oversight": {"quorum": 2}}
    change = ChangeState("change-1", "ann", diff=[weakened], approvers=("ann", "bob", "cy"))
    assert change.as_dict()["quorum"] == 3  # (the plan's roles.changes, and 2 of gate g's)
    assert ChangeState("change-2", "ann").as_dict()["quorum"] == 1
    state = RunState(user="ann", changes={"change-1": change})
    assert may_decide_change(state, change, "bob")
    change.approved_by = ["bob"]
    assert not may_decide_change(state, change, "bob") and may_decide_change(state, change, "cy")
