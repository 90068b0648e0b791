"""What is said of an amendment at its change gate outside the dashboard: `gates --wait` wakes
for one its reader may decide (engine/client/policy.py), a headless run's log says it is
proposed (with the command that approves it, under `-q` too), applied or not applied
(engine/logline.py), and the lessons report says a decision on it in words (`rejected`, it
said `rejectd`)."""

from __future__ import annotations

from phasegate.engine.client.policy import gates_waiting_for
from phasegate.engine.logline import log_line, waits_for_a_person
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.report.render import lessons_md

STARTED = ev.RunStarted(
    100.0,
    "run1",
    "plan1",
    "x.yaml",
    phases=[{"id": "p"}],
    tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
    agents=[{"id": "a", "slots": 1}],
    user="alice",
)
DIFF = [{"what": "task", "id": "u", "change": "added", "phase": "p"}]
DB = " --db /tmp/x/other.db"


def _proposed(approvers: list[str] | None = None) -> ev.ChangeProposed:
    return ev.ChangeProposed(101.0, "change-1", "alice", 1000, DIFF, approvers=approvers or [])


def test_gates_wait_wakes_for_a_change_its_reader_may_decide() -> None:
    state = project([STARTED, _proposed()])
    assert [c.id for c in gates_waiting_for(state, "alice")] == ["change-1"]  # the starter
    assert gates_waiting_for(state, "bob") == []
    named = project([STARTED, _proposed(["bob"])])
    assert [c.id for c in gates_waiting_for(named, "bob")] == ["change-1"]
    closed = project([STARTED, _proposed(), ev.ChangeClosed(102.0, "change-1", "rejected", "x")])
    assert gates_waiting_for(closed, "alice") == []


def test_a_proposed_change_says_how_to_approve_it_even_under_q() -> None:
    proposed = _proposed()
    assert waits_for_a_person(proposed)
    line = log_line(proposed, "r1", DB)
    assert line is not None
    assert "change change-1 to the plan by alice (1 change) waits for approval" in line
    assert line.endswith(f"phasegate approve r1 change-1 --reason TEXT{DB}")
    forged = ev.ChangeProposed(1.0, "change-1", "x\n\x1b[31mforged", 0, DIFF)
    text = log_line(forged, "r1")
    assert text is not None and "\n" not in text and "\x1b" not in text


def test_a_change_applied_rejected_or_not_applied_has_its_line() -> None:
    amended = ev.PlanAmended(102.0, "change-1", 2, "alice", "", DIFF)
    line = log_line(amended, "r1")
    assert line is not None and line.endswith("change change-1 applied: the run follows plan v2 "
                                              "(approved by alice)")  # fmt: skip
    assert log_line(ev.ChangeClosed(102.0, "change-1", "passed", "approved by alice")) is None
    rejected = log_line(ev.ChangeClosed(102.0, "change-1", "rejected", "rejected by bob: slow"))
    assert rejected is not None and rejected.endswith("change change-1 rejected by bob: slow")
    why = "the run has moved on: task 'a' has finished (succeeded): it cannot be changed"
    refused = log_line(ev.ChangeClosed(102.0, "change-1", "refused", why))
    assert refused is not None and refused.endswith(f"change change-1 not applied: {why}")
    for event in (amended, ev.ChangeClosed(102.0, "change-1", "refused", why)):
        assert not waits_for_a_person(event)  # (news, not a question: `-q` leaves it out)


def test_the_lessons_say_who_rejected_a_change_in_words() -> None:
    lessons = {
        "findings": [],
        "notes": [],
        "feedback": [],
        "scope_changes": [
            {
                "change": "change-1",
                "status": "rejected",
                "by": "ann",
                "reason": "rejected by root: too slow",
                "decided": [
                    {"by": "bob", "decision": "approve", "reason": ""},
                    {"by": "root", "decision": "reject", "reason": "too slow"},
                ],
                "diff": [],
            }
        ],
        "handoff": {"deliverables": [], "open_items": []},
    }
    text = "\n".join(lessons_md(lessons))
    assert "  - approved by bob\n  - rejected by root: too slow" in text, text
    assert "rejectd" not in text


def test_the_lessons_say_a_change_approved_too_late_was_not_applied() -> None:
    # regression: the fold keeps a refused change as `rejected`: the lessons said (rejected)
    # for a change its approver approved once the run had moved on
    from phasegate.engine.report.facts import gather
    from phasegate.engine.report.lessons import scope_changes

    events: list[ev.Event] = [
        ev.RunStarted(100.0, "r", "p", "p.yaml", [], [], []),
        _proposed(),
        ev.ChangeClosed(102.0, "change-1", "refused", "the run has moved on: task 'a' ended"),
    ]
    found = scope_changes(gather("r", events))
    assert [(c["change"], c["status"]) for c in found] == [("change-1", "not applied")]
