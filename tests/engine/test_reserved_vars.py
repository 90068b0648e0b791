"""Regression: `--var script=...` and `--var query=...` were accepted and silently ignored where
those names mean something (an agent's `command` gets the task's command as `{script}`, a
research provider's `run` the query as `{query}`); they are refused, as a built-in is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.model.errors import PlanError
from phasegate.engine.plan import load_plan

from .helpers import write_plan

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

PLAN = """
    name: reserved
    vars: {branch: main}
    agents:
      w: {command: "sh -c {script}"}
    research:
      - id: r
        query: "how to build {branch}"
        provider: {run: "echo {query}"}
    phases:
      - id: build
        tasks: [{id: a, run: "echo {branch}", agent: w}]
    """
WHERE = {
    "script": "in an agent's `command`, where it is the task's command",
    "query": "in a research provider's `run`, where it is the query",
}


def _problems(tmp_path: Path, given: list[str]) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(str(write_plan(tmp_path, PLAN)), given)
    return [p.message for p in caught.value.problems]


@pytest.mark.parametrize("name", ["script", "query"])
def test_a_var_naming_a_reserved_name_is_refused(tmp_path: Path, name: str) -> None:
    assert _problems(tmp_path, [name]) == [
        f"'{name}' is a reserved variable, set by phasegate {WHERE[name]}; --var cannot set it "
        "(reserved: script, query)"
    ]


def test_the_variables_listed_for_an_unknown_var_leave_the_reserved_names_out(
    tmp_path: Path,
) -> None:
    assert _problems(tmp_path, ["scrip"]) == [
        "the plan has no variable 'scrip' (its variables: branch)"
    ]


def test_the_plan_runs_with_its_own_vars(tmp_path: Path) -> None:
    assert load_plan(str(write_plan(tmp_path, PLAN)), ["branch"]).name == "reserved"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_validate_and_run_refuse_a_reserved_var_with_exit_2(tmp_path: Path, command: str) -> None:
    path = write_plan(tmp_path, PLAN)
    env = {**os.environ, "PHASEGATE_DB": str(tmp_path / "data" / "pg.db")}
    args = [PHASEGATE, command, str(path), "--var", "script=echo other"]
    done = subprocess.run(
        [*args, "--headless"] if command == "run" else args,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "--var: 'script' is a reserved variable, set by phasegate in an agent's" in out
    assert not (tmp_path / "data" / "pg.db").exists()  # (nothing was run)


def test_a_plan_variable_with_a_reserved_name_is_warned_of_and_still_loads(
    tmp_path: Path,
) -> None:
    """A plan's own `vars: {script: ...}` is not what an agent's `command` gets as `{script}`:
    a warning says so; a problem would stop a run's kept plan from loading (to show or take it
    over), so it stays a warning."""
    path = write_plan(
        tmp_path, PLAN.replace("vars: {branch: main}", "vars: {branch: main, script: x}")
    )
    plan = load_plan(str(path), [])
    assert [(w.key, w.message) for w in plan.warnings] == [
        (
            "vars.script",
            f"'script' is set by phasegate {WHERE['script']}: this variable's value is not used "
            "there; choose another name (reserved: script, query)",
        )
    ]
    assert load_plan(str(write_plan(tmp_path, PLAN)), []).warnings == []
