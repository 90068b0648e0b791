"""A worktree attempt that switched branch (`git checkout -b mine`, as coding agents often do)
was handed off as `phasegate/<run>/<task>-<n>`, a branch left at the start commit and deleted at
the run's end, while phasegate committed the work on the branch the task had switched to. The
hand-off now names the branch its commit is on: the attempt's own, moved to where the task went;
the branch the task made is left as it left it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from phasegate.engine.exec.worktree import Worktrees


def _git(repo: Path | str, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _trees(tmp_path: Path) -> Worktrees:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hello\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    base = _git(repo, "rev-parse", "HEAD")
    return Worktrees(str(repo), base, str(tmp_path / "run" / "worktrees"), "r1", str(repo))


def test_a_task_that_switched_branch_hands_off_a_branch_that_holds_its_work(
    tmp_path: Path,
) -> None:
    trees = _trees(tmp_path)
    cwd = Path(trees.add("switch", 1).cwd)
    _git(cwd, "checkout", "-q", "-b", "mine")
    (cwd / "s.txt").write_text("s\n")
    handoff = trees.handoff("switch", 1, str(tmp_path / "patches"))
    assert handoff.branch == "phasegate/r1/switch-1"
    assert (handoff.files, handoff.insertions) == (1, 1)
    # the branch named holds the commit, which holds the work; the task's branch is untouched
    assert _git(trees.repo, "rev-parse", handoff.branch) == handoff.commit
    assert _git(trees.repo, "show", f"{handoff.branch}:s.txt") == "s"
    assert _git(trees.repo, "rev-parse", "mine") == trees.base
    # the run's end keeps the branch with the work
    assert trees.remove_all() == []
    assert _git(trees.repo, "rev-parse", handoff.branch) == handoff.commit


def test_a_task_that_committed_on_its_own_branch_or_detached_head_keeps_those_commits(
    tmp_path: Path,
) -> None:
    trees = _trees(tmp_path)
    cwd = Path(trees.add("own", 1).cwd)
    _git(cwd, "checkout", "-q", "-b", "feature")
    (cwd / "a.txt").write_text("a\n")
    _git(cwd, "add", "a.txt")
    _git(cwd, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "mine")
    mine = _git(cwd, "rev-parse", "HEAD")
    _git(cwd, "checkout", "-q", "--detach")
    (cwd / "b.txt").write_text("b\n")
    handoff = trees.handoff("own", 1, str(tmp_path / "patches"))
    assert _git(trees.repo, "rev-parse", handoff.branch) == handoff.commit
    assert _git(trees.repo, "rev-parse", f"{handoff.commit}^") == mine  # (its own commit kept)
    assert (handoff.files, handoff.insertions) == (2, 2)
    assert _git(trees.repo, "rev-parse", "feature") == mine
