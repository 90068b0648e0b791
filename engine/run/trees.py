"""The run's git worktrees (`worktree: true`): the repository and commit its attempts start
from, the worktrees made for them, and their removal at the run's end: a part of the run."""

from __future__ import annotations

import os
import sys

from phasegate.engine.exec.worktree import Worktrees
from phasegate.engine.model.state import RunState
from phasegate.engine.plan.model import Plan
from phasegate.engine.plan.repo import repository


def start_point(plan: Plan, workdir: str) -> tuple[str, str]:
    """The repository and commit worktree attempts start from (checked with the plan; a
    repository gone since is the first such attempt's failure, with git's reason)."""
    if not plan.uses_worktrees:
        return "", ""
    try:
        return repository(workdir)
    except ValueError as exc:
        print(f"phasegate: worktree: {exc}", file=sys.stderr, flush=True)
        return "", ""


def worktrees(state: RunState, run_id: str, run_dir: str, workdir: str) -> Worktrees | None:
    """Where the run's attempts get their worktrees; None when it has no repository."""
    if not state.repo:
        return None
    where = os.path.join(run_dir or workdir, "worktrees")
    return Worktrees(state.repo, state.base_commit, where, run_id, workdir)


def remove(trees: Worktrees | None, plan: Plan, state: RunState) -> None:
    """The run's attempts' worktrees go when it ends, unless kept (their branches stay);
    a run that did not end (an engine that stops for a take-over) keeps them."""
    if trees is None or plan.keep_worktrees or not state.finished_at:
        return
    for problem in trees.remove_all():
        print(f"phasegate: {problem}", file=sys.stderr, flush=True)
