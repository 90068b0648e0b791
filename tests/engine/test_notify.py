"""What the plan's `notify:` command is told, and when (engine/run/notify.py), and who a gate
waits for (engine/client/policy.py): the pure parts; tests/tui/test_reaching_people.py runs
the command for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.client.policy import gates_waiting_for, may_answer_question
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.plan import validate_file
from phasegate.engine.run.notify import message

STARTED = ev.RunStarted(
    100.0,
    "run1",
    "plan1",
    "x.yaml",
    phases=[{"id": "p"}],
    tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
    agents=[{"id": "a", "slots": 1}],
    user="alice",
    gates=[
        {"id": "open", "after": "p", "approvers": ["bob", "alice"], "quorum": 2},
        {"id": "own", "after": "p", "approvers": [], "forbid_self_approval": True},
        {"id": "auto", "after": "p", "approval": "auto"},
    ],
)


def _opened(gate: str, approval: str = "manual") -> ev.GateOpened:
    return ev.GateOpened(101.0, gate, 1, [], "ab" * 32, approval)


def test_a_manual_gate_and_a_question_are_told_an_auto_gate_is_not() -> None:
    state = project([STARTED, _opened("open")])
    told = message(_opened("open"), state)
    assert told is not None
    assert (told["kind"], told["gate"], told["approvers"], told["quorum"]) == (
        "gate.opened",
        "open",
        ["bob", "alice"],
        2,
    )
    assert told["hint"] == "phasegate approve run1 open" and told["time"] == 101.0
    assert message(_opened("auto", "auto"), state) is None
    asked = ev.RunPaused(102.0, "risk:gate_wait", "waited 2h; go on?", ask="wait:open")
    question = message(asked, state)
    assert question is not None and question["kind"] == "question.asked"
    assert (question["question"], question["hint"]) == (
        "waited 2h; go on?",
        "phasegate resume run1",
    )
    assert message(ev.RunPaused(103.0, "bob", "lunch"), state) is None  # a pause asks nothing
    assert message(ev.RunPaused(103.0, "bob", "", phase="p"), state) is None
    ended = message(ev.RunFinished(104.0, "failed", "gate rejected"), state)
    assert ended is not None and (ended["kind"], ended["status"]) == ("run.finished", "failed")
    # every kind has every field, null where it does not apply (a hook may read any of them)
    assert set(told) == set(question) == set(ended)
    assert ended["risk"] is None and told["risk"] is None and question["criteria"] is None


def test_a_gate_waits_for_its_approvers_and_never_for_a_forbidden_starter() -> None:
    state = project([STARTED, _opened("open"), _opened("own"), _opened("auto", "auto")])
    assert [g.id for g in gates_waiting_for(state, "bob")] == ["open", "own"]
    assert [g.id for g in gates_waiting_for(state, "alice")] == ["open"]  # started the run
    assert [g.id for g in gates_waiting_for(state, "carol")] == ["own"]
    voted = ev.GateVoted(105.0, "open", "approve", "bob", 1001)  # bob has approved already
    again = project([STARTED, _opened("open"), _opened("own"), voted])
    assert [g.id for g in gates_waiting_for(again, "bob")] == ["own"]
    assert not may_answer_question(state, "bob")  # nothing asked
    question = ev.RunPaused(106.0, "risk:x", "go on?", ask="x")
    asked = project([STARTED, question])
    assert may_answer_question(asked, STARTED.user)  # the starter operates
    assert not may_answer_question(asked, "carol")
    operated = project([STARTED.replace(operators=["carol"]), question])
    assert may_answer_question(operated, "carol")


def test_an_unknown_name_in_notify_is_a_validation_problem(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "name: v\nagents: {a: {}}\nnotify: 'notify-send {run_id} {chanel}'\n"
        "vars: {channel: ops}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n"
    )
    found = validate_file(str(path))
    assert [(p.key, p.line, p.message.split(";")[0]) for p in found] == [
        ("notify", 3, "unknown variable {chanel} (did you mean 'channel'?)")
    ]


async def test_a_failing_notify_commands_warning_shows_no_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from .helpers import run_plan

    key = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ"
    (tmp_path / "leak.sh").write_text(f"echo 'token {key}' >&2\nexit 3\n")
    text = """
    name: leaky
    notify: "sh leak.sh"
    agents: {a: {}}
    phases:
      - id: p
        tasks: [{id: t, run: "true"}]
    """
    state, _ = await run_plan(tmp_path, text)
    assert state.status.value == "succeeded"
    err = capsys.readouterr().err
    assert "the notify command" in err and key not in err
