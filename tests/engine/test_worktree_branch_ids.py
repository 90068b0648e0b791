"""A task id that git refuses in a branch name (`a..b`) passed `validate` in a plan with
worktrees, and the run then failed the task: "no worktree: ... is not a valid branch name". Such
an id is now refused with the plan, on its line, with what to rename it to; a task that does not
work in a worktree may keep it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file

PLAN = """\
name: ids
agents:
  w: {slots: 2, worktree: true}
  plain: {}
phases:
  - id: p1
    tasks:
      - {id: "a..b", agent: w, run: "true"}
      - {id: "end.lock", agent: w, run: "true"}
      - {id: "c..d", agent: plain, run: "true"}
      - {id: "e..f", agent: plain, worktree: true, run: "true"}
      - {id: "g..h", agent: w, worktree: false, run: "true"}
"""


def test_ids_git_refuses_as_branches_are_refused_for_tasks_in_worktrees(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    author = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(
        ["git", *author, "commit", "-q", "--allow-empty", "-m", "start"], cwd=tmp_path, check=True
    )
    (tmp_path / "plan.yaml").write_text(PLAN)
    errors = [p for p in validate_file(str(tmp_path / "plan.yaml")) if not p.warning]
    assert [(p.line, p.key) for p in errors] == [
        (8, "phases[0].tasks[0].id"),
        (11, "phases[0].tasks[3].id"),
    ]
    assert "git refuses '..' in a branch name" in errors[0].message
    assert "rename the task (say 'a.b')" in errors[0].message


@pytest.mark.parametrize(
    "name",
    [
        *("a..b-1", "a@{b-1", "a b-1", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b"),
        *("a\x01b", ".a", "a/.b", "a//b", "a/", "a.", "a.lock", "a.lock/b", "a\x7fb"),
    ],
)
def test_what_git_refuses_is_refused_without_asking_git(name: str) -> None:
    from phasegate.engine.plan.repo import branch_refusal

    assert branch_refusal(name)
    full = f"refs/heads/phasegate/r1/{name}"
    assert subprocess.run(["git", "check-ref-format", full], capture_output=True).returncode


@pytest.mark.parametrize("name", ["end.lock-1", "a.b-1", "a@b-1", "a{b}-1", "x_y-2", "a.-1"])
def test_what_git_accepts_is_accepted(name: str) -> None:
    from phasegate.engine.plan.repo import branch_refusal

    assert branch_refusal(name) == ""
    full = f"refs/heads/phasegate/r1/{name}"
    assert subprocess.run(["git", "check-ref-format", full], capture_output=True).returncode == 0
