"""Regression (W3, point 2): `validate` said ok for a `feedback:` section nobody could answer:
two questions with the same id (the second's answer overwrote the first's) and `ask:` naming
no user or group of this machine (every answer then refused, the starter's too). Duplicate
ids are an error; an unknown user or group in `ask` is a warning, as for a gate's approvers."""

from __future__ import annotations

import textwrap
from pathlib import Path

from phasegate.engine.model.identity import current_identity
from phasegate.engine.plan.load import validate_file

ME = current_identity().user
NO_USER, NO_GROUP = "pg-no-such-user-zz", "pg-no-such-group-zz"


def _plan(tmp_path: Path, feedback: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: fb-checks
            agents: {a: {}}
            phases:
              - id: p
                tasks: [{id: t, run: "true", agent: a}]
            """
        )
        + feedback
    )
    return str(path)


def test_duplicate_feedback_question_ids_are_an_error(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        textwrap.dedent(
            """\
            feedback:
              questions:
                - {id: rating, text: "Rate it (1-5)", kind: rating}
                - {id: said, text: "Say"}
                - {id: rating, text: "Rate it again (1-5)", kind: rating}
            """
        ),
    )
    [problem] = validate_file(plan)
    assert not problem.warning
    assert problem.key == "feedback.questions[2].id" and problem.line == 10
    assert "duplicate question id 'rating' (first at questions[0])" in problem.message


def test_unknown_users_and_groups_asked_for_feedback_are_warned_of(tmp_path: Path) -> None:
    plan = _plan(tmp_path, f'feedback: {{ask: [{NO_USER}, "group:{NO_GROUP}", {ME}]}}\n')
    problems = validate_file(plan)
    assert all(p.warning for p in problems)
    said = {p.key: p.message for p in problems}
    assert said == {
        "feedback.ask[0]": f"there is no user '{NO_USER}' on this machine",
        "feedback.ask[1]": f"there is no group '{NO_GROUP}' on this machine",
    }


def test_feedback_asking_people_who_exist_is_ok(tmp_path: Path) -> None:
    assert validate_file(_plan(tmp_path, f"feedback: {{ask: [{ME}, group:root]}}\n")) == []
