"""Variables from the command line: a value can never add shell syntax, whatever the plan's
quotes; a `--var` the plan does not know is an error with a did-you-mean."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run

PLAN = """
name: vars
vars: {msg: hello}
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: bare, run: "echo {msg}"}
      - {id: single, run: "echo '{msg}'"}
      - {id: double, run: "echo \\"{msg}\\" > double.txt"}
"""
ATTACK = "hi; touch P1 $(touch P2)' ; touch P3; echo '"


def test_a_var_value_cannot_add_shell_syntax(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    done = pg("run", "plan.yaml", "--headless", "-q", "--var", f"msg={ATTACK}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(tmp_path.glob("P*"))
    assert (tmp_path / "double.txt").read_text() == ATTACK + "\n"
    logs = pg("logs", "last", "single").stdout
    assert ATTACK in logs


def test_an_unknown_var_is_an_error_with_a_did_you_mean(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    for command in ("validate", "run"):
        extra = ["--headless"] if command == "run" else []
        done = pg(command, "plan.yaml", *extra, "--var", "mgs=x")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "no variable 'mgs'; did you mean 'msg'?" in done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "double.txt").exists()  # nothing ran


RAW = """
name: raw
vars: {filter: "cat", name: x}
raw_vars: [filter]
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: t, run: "printf 'b\\\\na\\\\n' | {filter} > sorted.txt; echo {name} > name.txt"}
"""


def test_a_var_the_plan_lists_as_raw_adds_its_syntax_and_the_others_stay_quoted(
    pg: Run, tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(RAW)
    done = pg(
        "run", "plan.yaml", "--headless", "-q", "--var", "filter=sort | tr a-z A-Z",
        "--var", "name=y; touch P1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "sorted.txt").read_text() == "A\nB\n"  # the raw value's pipe ran
    assert (tmp_path / "name.txt").read_text() == "y; touch P1\n"  # the other one is text
    assert not list(tmp_path.glob("P*"))


def test_raw_vars_must_name_declared_vars(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(RAW.replace("raw_vars: [filter]", "raw_vars: [fliter]"))
    done = pg("validate", "plan.yaml")
    assert done.returncode == 2
    assert "raw_vars names 'fliter', which is not in `vars:`" in done.stdout + done.stderr


def test_outputs_outside_the_workdir_are_refused_unless_the_plan_allows_them(
    pg: Run, tmp_path: Path
) -> None:
    plan = """
name: out
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: t, run: "true", outputs: [../../../../etc/passwd, /etc/hostname, ok/../fine.txt]}
"""
    (tmp_path / "plan.yaml").write_text(plan)
    done = pg("validate", "plan.yaml")
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "output '../../../../etc/passwd' is outside the workdir" in said
    assert "output '/etc/hostname' is outside the workdir" in said
    assert "fine.txt" not in said
    (tmp_path / "plan.yaml").write_text(plan.replace("agents:", "absolute_outputs: true\nagents:"))
    assert pg("validate", "plan.yaml").returncode == 0
