"""Regression, as a user meets it: in a large repository the engine froze while git made an
attempt's worktree or committed its hand-off (`git worktree add`, `add`, `commit`, `diff` ran on
the event loop): `phasegate note` waited for git, a task on another agent started only when
git was done, and an instant task was recorded as running for as long as git took. Git now
works in a thread: the run answers and runs other tasks meanwhile; the attempt starts when its
worktree is ready, and ends (its dependents start) once its hand-off is recorded.

Git is held by hooks that wait for the test (post-checkout, which `git worktree add` runs, and
post-commit, which `--no-verify` does not skip), so "git is slow" is a fact, not a timing."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Run, spawn_pg, until

PLAN = """
name: offloop
agents:
  w: {worktree: true, slots: 2}
  plain: {}
phases:
  - id: p1
    tasks:
      - {id: edit, agent: w, run: "sh -c 'echo x > x.txt'", priority: 10}
      - {id: after, agent: plain, needs: [edit], run: "true"}
      - {id: tick, agent: plain, run: "true"}
      - {id: other, agent: w, run: "true"}
"""

HOOK = """#!/bin/sh
echo ran >> {gate}/{name}.log
touch {gate}/{name}.held
while [ ! -e {gate}/{name}.go ]; do sleep 0.02; done
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True)


def _tasks(pg: Run) -> dict[str, dict[str, object]]:
    done = pg("show", "last", "--json")
    return {t["id"]: t for t in json.loads(done.stdout)["tasks"]} if done.returncode == 0 else {}


@pytest.mark.slow
def test_the_run_goes_on_while_git_works_on_a_worktree(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    repo, gate = tmp_path / "repo", tmp_path / "gate"
    repo.mkdir()
    gate.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "plan.yaml").write_text(PLAN)
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    for name in ("post-checkout", "post-commit"):
        hook = repo / ".git" / "hooks" / name
        hook.write_text(HOOK.format(gate=gate, name=name))
        hook.chmod(0o755)
    run = spawn_pg(repo, cli_env, "run", "plan.yaml", "--headless")
    try:
        # git makes edit's worktree, and is held there
        until("git worktree add", (gate / "post-checkout.held").exists)
        # meanwhile the engine answers, and the task on the other agent runs to its end
        assert pg("note", "last", "while git works").returncode == 0
        until("tick's end", lambda: _tasks(pg).get("tick", {}).get("status") == "succeeded", 25)
        edit = _tasks(pg)["edit"]
        assert edit["status"] == "ready" and edit["started_at"] is None  # (its time: not yet)
        # a task whose worktree waits its turn is cancelled: it gets none, and never runs
        assert pg("cancel", "last", "--task", "other").returncode == 0
        (gate / "post-checkout.go").touch()
        # edit ran; git commits its hand-off, and is held there: edit has not ended, and its
        # dependent has not started
        until("git commit", (gate / "post-commit.held").exists)
        committing = time.time()
        assert pg("note", "last", "while git commits").returncode == 0
        tasks = _tasks(pg)
        assert tasks["edit"]["status"] == "running" and tasks["after"]["started_at"] is None
        (gate / "post-commit.go").touch()
        out, err = run.communicate(timeout=60)
        assert run.returncode == 1, out + err  # (a task was cancelled)
    finally:
        for name in ("post-checkout", "post-commit"):
            (gate / f"{name}.go").touch()
    tasks = _tasks(pg)
    assert [tasks[t]["status"] for t in ("edit", "after", "tick")] == ["succeeded"] * 3
    assert tasks["other"]["status"] == "cancelled"
    assert (gate / "post-checkout.log").read_text() == "ran\n"  # (edit's worktree alone)
    handoff = tasks["edit"]["handoff"]
    assert isinstance(handoff, dict) and handoff["files"] == 1 and handoff["error"] == ""
    # its end is its command's: the hand-off's git came after it
    assert isinstance(tasks["edit"]["finished_at"], float)
    assert tasks["edit"]["finished_at"] < committing
