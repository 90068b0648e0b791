"""After a take-over, what the run waits for a person on is said again, as a fresh run said
it: a manual gate (with how to approve it), a tool request, a risk rule's question. Regression:
`resume` of a run interrupted while a manual gate waited never said so (with `-q`, nothing)."""

from __future__ import annotations

from phasegate.engine.host import still_waiting
from phasegate.engine.logline import log_line
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project

GATES = [
    {"id": "review", "after": "a", "approval": "manual"},
    {"id": "auto", "after": "a", "approval": "auto"},
    {"id": "done", "after": "a", "approval": "manual"},
]
STARTED = ev.RunStarted(1.0, "r", "p", "p.yaml", [{"id": "a"}], [], [], gates=GATES)


def test_open_manual_gates_tool_requests_and_a_risk_s_question_are_said_again() -> None:
    asked = [
        ev.GateOpened(2.0, "review", 1, [], "h1", "manual"),
        ev.GateOpened(2.0, "auto", 1, [], "h2", "auto"),
        ev.GateOpened(2.0, "done", 1, [], "h3", "manual"),
        ev.GateClosed(3.0, "done", "passed", "approved"),
        ev.PermissionAsked(4.0, "tool-1", "build", 1, "Bash", "rm -rf build/", "clean"),
        ev.RunPaused(5.0, "risk rule", "the budget is spent", ask="budget:usd"),
    ]
    state = project([STARTED, *asked])
    lines = [log_line(e, "r", " --db x.db") for e in still_waiting(state, 9.0)]
    fresh = [log_line(e, "r", " --db x.db") for e in (asked[0], asked[4], asked[5])]
    cut = len("00:00:00 ")  # (the clock: now, not when it was first asked)
    assert [str(line)[cut:] for line in lines] == [str(line)[cut:] for line in fresh]
    assert "gate review waits for approval: phasegate approve r review --reason TEXT --db x.db" in (
        str(lines[0])
    )


def test_a_run_that_waits_for_nobody_says_nothing() -> None:
    state = project([STARTED, ev.GateOpened(2.0, "auto", 1, [], "h", "auto")])
    assert still_waiting(state, 9.0) == []
