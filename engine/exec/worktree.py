"""Git worktrees for attempts (`worktree: true`): each attempt of such a task works in its own
worktree, on its own branch, made from the plan's repository at the commit the run started
from (or, for an attempt that goes on with its agent's session, at what the task's last attempt
left); its end commits what it changed there and writes the patch, the attempt's hand-off.

Paths and branches follow from the run, the task and the attempt alone
(`<run dir>/worktrees/<task>-<attempt>`, `phasegate/<run>/<task>-<attempt>`), so an engine that
takes a run over after a crash finds an adopted attempt's worktree without being told.
The git commands run synchronously here, and in worker threads of the run (engine/run/trees.py):
a worktree of a large repository costs what `git worktree add` costs there (a checkout, seconds),
once per attempt, and the run goes on meanwhile. One worktree is made at a time: git reads every
worktree's files in the repository (`-B` looks for the branch checked out in another), and fails
on those a concurrent `git worktree add` has half made ("failed to read .../commondir"); hand-offs
(add, commit, diff in their own worktree) go on beside."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import msgspec

from phasegate.engine.plan.repo import git

AUTHOR = ("-c", "user.name=phasegate", "-c", "user.email=phasegate@localhost")


class WorktreeError(RuntimeError):
    """A git command failed; its message says which and why."""


class Worktree(msgspec.Struct, frozen=True):
    path: str  # the worktree's top directory
    branch: str
    cwd: str  # where the attempt runs: the workdir's place inside the worktree


class Handoff(msgspec.Struct, frozen=True):
    """What an attempt changed, committed on its branch: the diffstat and the patch's file."""

    branch: str
    commit: str  # the branch's head after the attempt ("" when it changed nothing)
    files: int
    insertions: int
    deletions: int
    patch: str  # path of the patch (against the run's start commit); "" when nothing changed


class Worktrees:
    def __init__(self, repo: str, base: str, root: str, run_id: str, workdir: str) -> None:
        self.repo, self.base, self.root, self._run = repo, base, root, run_id
        self._git = threading.RLock()  # (one worktree made at a time: see the module's doc)
        # where the workdir is inside the repository: the attempt's cwd inside its worktree
        self._inside = os.path.relpath(os.path.realpath(workdir), os.path.realpath(repo))

    def of(self, task: str, attempt: int) -> Worktree:
        name = f"{task}-{attempt}"
        path = os.path.join(self.root, name)
        cwd = path if self._inside == "." else os.path.join(path, self._inside)
        return Worktree(path, f"phasegate/{self._run}/{name}", cwd)

    def add(self, task: str, attempt: int, carry: bool = False) -> Worktree:
        """A new worktree and branch for the attempt: at the run's start commit, or with
        `carry` (an attempt that goes on with its agent's session, which remembers its work)
        at what the task's last attempt left there."""
        with self._git:
            return self._add(task, attempt, carry)

    def _add(self, task: str, attempt: int, carry: bool) -> Worktree:
        tree = self.of(task, attempt)
        if os.path.isdir(tree.path):  # (left by an engine that died before the attempt ran)
            self._run_git("worktree", "remove", "--force", tree.path)
        start = self._last(task, attempt) if carry else self.base
        os.makedirs(self.root, exist_ok=True)
        self._run_git("worktree", "add", "--quiet", "-B", tree.branch, tree.path, start)
        os.makedirs(tree.cwd, exist_ok=True)
        return tree

    def _last(self, task: str, attempt: int) -> str:
        """The head of the branch of the task's latest attempt before `attempt` (what it left in
        its worktree uncommitted, as a dead engine's attempt does, committed there first); the
        run's start commit when none has a branch."""
        prefix = f"refs/heads/phasegate/{self._run}/"
        code, refs = git(self.repo, "for-each-ref", "--format=%(refname)", prefix)
        earlier = []
        for ref in refs.splitlines() if code == 0 else []:
            name, _, number = ref.removeprefix(prefix).rpartition("-")
            if name == task and number.isdigit() and int(number) < attempt:
                earlier.append(int(number))
        if not earlier:
            return self.base
        last = self.of(task, max(earlier))
        if os.path.isdir(last.path):
            self._commit(task, max(earlier), last.path)
        return self._run_git("rev-parse", "--verify", f"refs/heads/{last.branch}")

    def _commit(self, task: str, attempt: int, path: str) -> None:
        """Commit on the attempt's branch what it changed there, if anything. An attempt that
        switched branch (`git checkout -b mine`, as coding agents do) or detached HEAD has its
        branch moved to where it went first: its work, its own commits included, is on its
        branch; the branch it switched to is left as it left it."""
        self._run_git("add", "--all", ".", cwd=path)
        branch = f"refs/heads/{self.of(task, attempt).branch}"
        _, head = git(path, "symbolic-ref", "--quiet", "HEAD")
        if head != branch:  # (what is staged stays staged: the commit is the same)
            with self._git:  # (`-B` reads every worktree)
                self._run_git(
                    "checkout", "--quiet", "-B", branch.removeprefix("refs/heads/"), cwd=path
                )
        code, _ = git(path, "diff", "--cached", "--quiet")
        if code == 1:  # something is staged
            message = f"phasegate: {task}, attempt {attempt} (run {self._run})"
            self._run_git(*AUTHOR, "commit", "--quiet", "--no-verify", "-m", message, cwd=path)

    def handoff(
        self, task: str, attempt: int, patches: str, redact: Callable[[str], str] = str
    ) -> Handoff:
        """Commit what the attempt changed on its branch; its diffstat and patch (written under
        `patches`, through `redact`: the run's directory holds no secret) against the run's
        start commit."""
        tree = self.of(task, attempt)
        if not os.path.isdir(tree.path):
            raise WorktreeError(f"the worktree {tree.path} is gone")
        self._commit(task, attempt, tree.path)
        head = self._run_git("rev-parse", "HEAD", cwd=tree.path)
        if head == self.base:
            return Handoff(tree.branch, "", 0, 0, 0, "")
        files = insertions = deletions = 0
        for line in self._run_git("diff", "--numstat", self.base, head, cwd=tree.path).splitlines():
            added, removed, _ = line.split("\t", 2)
            files += 1
            insertions += int(added) if added.isdigit() else 0  # ("-" for a binary file)
            deletions += int(removed) if removed.isdigit() else 0
        os.makedirs(patches, exist_ok=True)
        patch = os.path.join(patches, f"{task}-{attempt}.patch")
        diff = self._run_git("diff", "--binary", self.base, head, cwd=tree.path, strip=False)
        kept = redact(diff)
        if kept != diff:  # (git apply skips what comes before the first `diff --git`)
            kept = (
                f"phasegate: a secret was replaced by its «NAME» in this patch, whose hunks with "
                f"it no longer apply; the branch {tree.branch} holds the change as made.\n" + kept
            )
        with open(patch, "w", encoding="utf-8") as f:
            f.write(kept)
        return Handoff(tree.branch, head, files, insertions, deletions, patch)

    def remove_all(self) -> list[str]:
        """Remove every worktree of the run (its branches stay: they hold the hand-offs);
        the problems met, as lines to show."""
        with self._git:
            return self._remove_all()

    def _remove_all(self) -> list[str]:
        problems = []
        if os.path.isdir(self.root):
            for name in sorted(os.listdir(self.root)):
                path = os.path.join(self.root, name)
                # (twice: one a timed-out `worktree add` left locked goes too)
                code, out = git(self.repo, "worktree", "remove", "--force", "--force", path)
                if code != 0 and os.path.isdir(path):
                    problems.append(f"worktree {path} not removed: {out}")
            if not os.listdir(self.root):
                import shutil  # (only when a worktree is removed: not at start-up)

                shutil.rmtree(self.root, ignore_errors=True)
        git(self.repo, "worktree", "prune")
        # a branch its attempt left at the start commit holds nothing to hand off
        prefix = f"refs/heads/phasegate/{self._run}/"
        code, refs = git(self.repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
        for line in refs.splitlines() if code == 0 else []:
            ref, _, commit = line.partition(" ")
            if commit == self.base:
                git(self.repo, "update-ref", "-d", ref, commit)
        return problems

    def _run_git(self, *args: str, cwd: str | None = None, strip: bool = True) -> str:
        code, out = git(cwd or self.repo, *args)
        if code != 0:
            raise WorktreeError(f"git {' '.join(args[:2])} failed: {out}")
        return out if strip else out + "\n"
