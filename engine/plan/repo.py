"""The git repository a plan's `worktree: true` agents and tasks work in: its workdir must be in
one, with a commit to start from. Checked with the plan (validate, plan, run), so a run never
starts and then fails at its first attempt."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

from phasegate.engine.plan.flaws import Flaw, dicts, mapping

GIT_SECONDS = 30


def git(cwd: str, *args: str) -> tuple[int, str]:
    """`git ARGS` in `cwd`: its exit code and its output (stderr when it failed)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        return 127, "git is not installed (the `git` command was not found)"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout if done.returncode == 0 else done.stderr).strip()


def repository(workdir: str) -> tuple[str, str]:
    """(the repository's top directory, its HEAD commit) for `workdir`; ValueError says why
    there is none."""
    if not os.path.isdir(workdir):
        raise ValueError(f"the workdir {workdir} does not exist")
    code, top = git(workdir, "rev-parse", "--show-toplevel")
    if code != 0:
        why = top.splitlines()[-1] if top else f"exit {code}"
        raise ValueError(
            f"the workdir {workdir} is not in a git repository ({why}); run `git init` and "
            "commit there, or drop `worktree: true`"
        )
    code, head = git(workdir, "rev-parse", "--verify", "HEAD^{commit}")
    if code != 0:
        raise ValueError(
            f"the repository {top} has no commit to start worktrees from; commit once "
            "(`git commit --allow-empty -m start`)"
        )
    return top, head


def uses_worktrees(data: dict[str, Any]) -> list[tuple[str | int, ...]]:
    """Where the plan asks for worktrees (agents' and tasks' `worktree: true`)."""
    found: list[tuple[str | int, ...]] = [
        ("agents", name, "worktree")
        for name, agent in mapping(data.get("agents")).items()
        if mapping(agent).get("worktree") is True
    ]
    for pi, phase in dicts(data.get("phases")):
        found += [
            ("phases", pi, "tasks", ti, "worktree")
            for ti, task in dicts(phase.get("tasks"))
            if task.get("worktree") is True
        ]
    return found


def worktree_flaws(data: dict[str, Any], base_dir: str) -> Iterator[Flaw]:
    """`worktree: true` with a workdir that is not in a git repository with a commit."""
    places = uses_worktrees(data)
    if not places:
        return
    workdir = data.get("workdir")
    where = base_dir
    if isinstance(workdir, str):
        where = os.path.normpath(os.path.join(base_dir, os.path.expanduser(workdir)))
    try:
        repository(where)
    except ValueError as exc:
        yield Flaw(places[0], True, f"worktree: {exc}")
