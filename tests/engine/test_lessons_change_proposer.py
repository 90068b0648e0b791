"""The lessons' scope changes credit an amendment to who proposed it, and say who approved it
apart: hacarol proposed change-1 and haalice approved it; the report said `change-1 by haalice`
(and `scope_changes[0].by = haalice` in its JSON)."""

from __future__ import annotations

from tests.engine.test_report_truth import TASKS, Run, _report

EXTRA = {"id": "extra", "phase": "p1", "agent": "w", "needs": [], "estimate": None}


async def test_a_change_is_by_its_proposer_and_approved_by_its_approver() -> None:
    run = Run().add(0, "phase.started", phase="p1")
    diff = [{"what": "task", "id": "extra", "change": "added", "phase": "p1"}]
    run.add(1.0, "change.proposed", change="change-1", by="hacarol", uid=3, diff=diff)
    run.add(2.0, "gate.voted", gate="change-1", decision="approve", user="haalice", uid=1,
            host="h", tty="", ssh="", reason="")  # fmt: skip
    run.add(2.0, "change.closed", change="change-1", outcome="passed",
            reason="approved by haalice")  # fmt: skip
    run.add(2.0, "plan.amended", change="change-1", plan_version=2, by="haalice", text="",
            diff=diff, phases=[{"id": "p1"}, {"id": "p2"}], tasks=[*TASKS, EXTRA],
            gates=[{"id": "g", "after": "p1", "approval": "manual", "quorum": 1}],
            agents=[{"id": "w", "slots": 1}])  # fmt: skip
    run.attempt("hello", 1, 2.0, 4.0).attempt("extra", 1, 4.0, 4.5).standby_skipped(4.5)
    run.add(4.5, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5)
    report, text, _ = await _report(run)
    [change] = report["lessons"]["scope_changes"]
    assert change["by"] == "hacarol" and change["approved_by"] == "haalice"
    assert change["version"] == 2 and change["status"] == "passed"
    assert "- change-1 by hacarol (passed, plan v2)" in text
    assert "change-1 by haalice" not in text


async def test_a_change_never_applied_has_no_approver() -> None:
    run = Run().add(0, "phase.started", phase="p1")
    diff = [{"what": "task", "id": "extra", "change": "added", "phase": "p1"}]
    run.add(1.0, "change.proposed", change="change-1", by="hacarol", uid=3, diff=diff)
    run.add(2.0, "gate.voted", gate="change-1", decision="reject", user="haalice", uid=1,
            host="h", tty="", ssh="", reason="too late")  # fmt: skip
    run.add(2.0, "change.closed", change="change-1", outcome="rejected",
            reason="rejected by haalice: too late")  # fmt: skip
    run.attempt("hello", 1, 2.0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5)
    report, _, _ = await _report(run)
    [change] = report["lessons"]["scope_changes"]
    assert change["by"] == "hacarol" and change["approved_by"] is None
