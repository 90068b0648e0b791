"""`--var` names a variable the plan declares under `vars:`: the variables a refusal lists are
those (not the names its commands use), and a `--var` for a name only a typo in a command uses
is refused with the declared name it is close to. A name the plan's text uses and that is close
to none is still given by `--var` (`{who}`). An output outside the workdir is said plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.plan import load_plan, validate_file
from phasegate.engine.plan.load import PlanError

from .helpers import write_plan

PLAN = """
    name: v
    agents: {w: {}}
    vars: {Greeting: a, branch: b, greeting: c}
    phases:
      - id: p
        tasks: [{id: t1, run: "echo {greeting} {Greeting} {branch} {greting} {who}"}]
    """
LISTED = "(its variables: Greeting, branch, greeting)"


def _refusals(tmp_path: Path, given: list[str]) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(str(write_plan(tmp_path, PLAN)), given)
    return [p.message for p in caught.value.problems if p.key == "--var"]


def test_an_unknown_var_lists_only_the_declared_variables(tmp_path: Path) -> None:
    assert _refusals(tmp_path, ["greetng", "who"]) == [
        f"the plan has no variable 'greetng'; did you mean 'greeting'? {LISTED}"
    ]


def test_a_var_for_a_name_only_a_typo_in_a_command_uses_is_refused(tmp_path: Path) -> None:
    assert _refusals(tmp_path, ["greting", "who"]) == [
        f"the plan has no variable 'greting'; did you mean 'greeting'? {LISTED}"
    ]


def test_declared_and_used_names_are_taken(tmp_path: Path) -> None:
    text = PLAN.replace(" {greting}", "")
    assert load_plan(str(write_plan(tmp_path, text)), ["greeting", "who"]).name == "v"


def test_an_output_outside_the_workdir_is_said_without_a_doubled_quote(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path,
        """
        name: o
        agents: {w: {}}
        phases:
          - id: p
            tasks: [{id: t1, run: "true", outputs: [/etc/passwd]}]
        """,
    )
    said = [p.message for p in validate_file(str(path))]
    assert said[0].startswith("task 't1': its output '/etc/passwd' is outside the workdir; "), said
