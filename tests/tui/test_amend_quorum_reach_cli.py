"""`phasegate amend` refuses a gate whose quorum only the run's starter could complete while the
gate forbids self-approval, as `phasegate run` refuses such a plan: exit 1, the same reason,
nothing changed in the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phasegate.engine.model.identity import current_identity

from .conftest import Run, show_last, until

pytestmark = pytest.mark.slow  # (a whole engine process)

ME = current_identity().user
PLAN = """name: amend-quorum
agents: {m: {}}
phases:
  - id: work
    tasks: [{id: a, run: 'while [ ! -e go ]; do sleep 0.05; done', agent: m}]
  - id: ship
    tasks: [{id: b, run: 'true', agent: m}]
gates:
  - {id: review, after: work, approval: auto}
"""


def test_amend_refuses_a_gate_the_starter_puts_out_of_reach(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PLAN)
    assert pg("run", "p.yaml", "--detach").returncode == 0
    until("a to run", lambda: show_last(pg)["tasks"][0]["status"] == "running")  # type: ignore[index]
    gate = f"{{id: review, after: work, approvers: [{ME}, daemon], quorum: 2, "
    (tmp_path / "new.yaml").write_text(
        PLAN.replace(
            "{id: review, after: work, approval: auto}", gate + "forbid_self_approval: true}"
        )
    )
    try:
        done = pg("amend", "last", "new.yaml")
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr == (
            "phasegate: refused: gate 'review' needs 2 approvals but only 1 of its approvers "
            f"may give them (daemon): {ME} starts the run and the gate forbids self-approval; "
            "add an approver or lower the quorum; nothing was changed\n"
        )
        gates = json.loads(pg("gates", "last", "--json").stdout)["gates"]
        assert [g["id"] for g in gates] == ["review"]  # (no change gate opened)
    finally:  # (the run ends, also when the amendment was taken)
        (tmp_path / "go").write_text("")
    until("the run to end", lambda: show_last(pg)["status"] != "running")
    assert show_last(pg)["status"] == "succeeded"  # (its gate as it was: auto)
