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
