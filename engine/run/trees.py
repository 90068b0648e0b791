"""The run's git worktrees (`worktree: true`): the repository and commit its attempts start
from, the worktrees made for them and the hand-offs made from them (git in a worker thread: a
checkout of a large repository takes seconds, and the run answers and starts other tasks
meanwhile), and their removal at the run's end: a part of the run."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor  # (asyncio imports it: no start-up cost)
from typing import TypeVar

import msgspec.structs

from phasegate.engine.exec.worktree import Worktree, WorktreeError, Worktrees
from phasegate.engine.model import events as ev
from phasegate.engine.model.state import RunState
from phasegate.engine.plan.model import Plan
from phasegate.engine.plan.repo import repository
from phasegate.engine.run.endings import handoff_event

T = TypeVar("T")
_git_thread: ThreadPoolExecutor | None = None  # where the run's git works, made when first needed


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


def make(
    trees: Worktrees | None,
    task: str,
    attempt: int,
    carry: bool,
    then: Callable[[Worktree | str], None],
    stopped: Callable[[], str],
) -> None:
    """Make the attempt's worktree (`Worktrees.add`) in a worker thread; `then`, on the loop,
    with it or with why there is none (`stopped`, when its turn came: it was cancelled)."""

    def work() -> Worktree | str:
        if why := stopped():  # (a cancelled attempt waits for no checkout)
            return why
        try:
            if trees is None:  # (the repository was gone when the run started)
                raise WorktreeError("the run has no git repository to make worktrees from")
            return trees.add(task, attempt, carry)
        except Exception as exc:  # (it becomes the attempt's end: never a task that waits on)
            return f"no worktree: {exc}"

    _in_thread(work, then, in_turn=True)


def stopped(state: RunState, task: str) -> str:
    """Why an attempt whose worktree was being made is not to start: the task or the run was
    cancelled meanwhile; "" when it goes on."""
    t = state.tasks.get(task)
    return (t.stop_reason if t is not None else "") or state.cancelling


def hand_off(
    trees: Worktrees | None,
    task: str,
    attempt: int,
    redact: Callable[[str], str],
    now: Callable[[], float],
    then: Callable[[ev.TaskHandoff], None],
) -> None:
    """Commit what the attempt changed and keep its patch (`handoff_event`) in a worker thread;
    `then`, on the loop, with its event, dated when git is done."""

    def work() -> ev.TaskHandoff:
        try:
            return handoff_event(0.0, trees, task, attempt, redact)
        except Exception as exc:  # (it becomes the hand-off's error: never a task that waits on)
            branch = trees.of(task, attempt).branch if trees is not None else ""
            return ev.TaskHandoff(0.0, task, attempt, branch, error=str(exc))

    _in_thread(work, lambda done: then(msgspec.structs.replace(done, ts=now())))


def _in_thread(work: Callable[[], T], then: Callable[[T], None], in_turn: bool = False) -> None:
    """`work` in a worker thread, or `in_turn` in the run's thread for worktrees (git makes one at
    a time: engine/exec/worktree; in turn, attempts start in the order the scheduler chose);
    `then` with its result on the loop (not when the loop stops first: the run has ended)."""
    global _git_thread
    if in_turn and _git_thread is None:  # (a run without worktrees starts no thread)
        _git_thread = ThreadPoolExecutor(1, thread_name_prefix="phasegate-worktrees")
    future = asyncio.get_running_loop().run_in_executor(_git_thread if in_turn else None, work)
    future.add_done_callback(lambda f: None if f.cancelled() else then(f.result()))
