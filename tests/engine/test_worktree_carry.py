"""A worktree attempt that goes on with its agent's session (a retry, a rework) was given a
fresh worktree at the run's start commit: the agent, told to try again, remembered files that
were not there. Such an attempt now starts from what the task's last attempt left (committed on
its branch, or left uncommitted by an engine that died); a command's retry still starts clean."""

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


def test_an_attempt_that_goes_on_with_its_session_starts_from_the_last_attempts_work(
    tmp_path: Path,
) -> None:
    trees = _trees(tmp_path)
    first = Path(trees.add("fix", 1).cwd)
    (first / "README").write_text("hello\nfixed half\n")
    (first / "notes.txt").write_text("what I did\n")
    trees.handoff("fix", 1, str(tmp_path / "patches"))  # (its end: committed on its branch)
    other = Path(trees.add("fix-b", 1).cwd)  # (another task, whose name starts alike)
    (other / "other.txt").write_text("not fix's\n")
    trees.handoff("fix-b", 1, str(tmp_path / "patches"))
    second = Path(trees.add("fix", 2, carry=True).cwd)
    assert (second / "README").read_text() == "hello\nfixed half\n"
    assert (second / "notes.txt").read_text() == "what I did\n"
    assert not (second / "other.txt").exists()
    (second / "README").write_text("hello\nfixed\n")
    handoff = trees.handoff("fix", 2, str(tmp_path / "patches"))
    # its hand-off is the task's whole work, against the run's start commit
    assert (handoff.files, handoff.insertions) == (2, 2)
    patch = Path(handoff.patch).read_text()
    assert "+fixed\n" in patch and "+what I did\n" in patch
    first_commit = _git(trees.repo, "rev-parse", "phasegate/r1/fix-1")
    assert _git(trees.repo, "rev-parse", f"{handoff.commit}^") == first_commit


def test_what_a_dead_engines_attempt_left_uncommitted_is_carried_and_kept_on_its_branch(
    tmp_path: Path,
) -> None:
    trees = _trees(tmp_path)
    first = Path(trees.add("fix", 1).cwd)
    (first / "draft.txt").write_text("draft\n")  # (no hand-off: its engine died)
    # attempt 2 never made its worktree (its budget was spent): attempt 3 goes on from 1
    third = Path(trees.add("fix", 3, carry=True).cwd)
    assert (third / "draft.txt").read_text() == "draft\n"
    assert _git(trees.repo, "show", "phasegate/r1/fix-1:draft.txt") == "draft"


def test_a_retry_without_a_session_starts_from_the_run_start_commit(tmp_path: Path) -> None:
    trees = _trees(tmp_path)
    first = Path(trees.add("fix", 1).cwd)
    (first / "seen").write_text("")
    trees.handoff("fix", 1, str(tmp_path / "patches"))
    assert sorted(p.name for p in Path(trees.add("fix", 2).cwd).iterdir()) == [".git", "README"]
    # and one that would carry, with no earlier attempt, starts there too
    assert sorted(p.name for p in Path(trees.add("new", 1, carry=True).cwd).iterdir()) == [
        ".git",
        "README",
    ]


def test_a_locked_worktree_is_removed_at_the_runs_end(tmp_path: Path) -> None:
    # (a `git worktree add` that timed out leaves its worktree locked: one --force did not
    # remove it, and the run's worktrees directory stayed)
    trees = _trees(tmp_path)
    tree = trees.add("a", 1)
    _git(trees.repo, "worktree", "lock", tree.cwd)
    assert trees.remove_all() == []
    assert not Path(tree.cwd).exists()
