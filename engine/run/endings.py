"""What an attempt's end hands on, as events: its test results (engine/run/results.py) and, for
an attempt in its own git worktree, its work committed on its branch with the patch kept
(engine/exec/worktree.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

from phasegate.engine.exec.base import Exit
from phasegate.engine.exec.worktree import WorktreeError, Worktrees
from phasegate.engine.model import events as ev
from phasegate.engine.plan.model import Task
from phasegate.engine.plan.template import substitute
from phasegate.engine.run.results import Found


def results_event(
    now: float, task: str, attempt: int, found: Found, redact: Callable[[str], str]
) -> ev.TaskResults:
    """The results as an event; the failing tests' names and messages are redacted (they are
    the task's output)."""
    c = found.counts
    failures = [{k: redact(v) for k, v in f.items()} for f in found.failures]
    return ev.TaskResults(
        now,
        task,
        attempt,
        c["passed"],
        c["failed"],
        c["skipped"],
        c["errors"],
        failures,
        found.source,
        found.error,
        [[redact(str(c[0])), c[1], c[2]] for c in found.cases],
    )


def handoff_event(
    now: float,
    trees: Worktrees | None,
    task: str,
    attempt: int,
    redact: Callable[[str], str] = str,
) -> ev.TaskHandoff:
    """Commit what the attempt changed in its worktree on its branch; its diffstat and patch
    (under the run's `patches/`, redacted), or why there is none."""
    try:
        if trees is None:  # (the repository was gone when the run started)
            raise WorktreeError("the run has no git repository to make worktrees from")
        patches = os.path.join(trees.root, os.pardir, "patches")
        done = trees.handoff(task, attempt, patches, redact)
    except (WorktreeError, OSError) as exc:
        branch = trees.of(task, attempt).branch if trees is not None else ""
        return ev.TaskHandoff(now, task, attempt, branch, error=str(exc))
    patch = os.path.normpath(done.patch) if done.patch else ""
    return ev.TaskHandoff(
        now,
        task,
        attempt,
        done.branch,
        done.commit,
        done.files,
        done.insertions,
        done.deletions,
        patch,
    )


def output_paths(task: Task, values: dict[str, str]) -> list[str]:
    """The task's declared outputs with their placeholders filled in (relative to where it
    runs)."""
    return [substitute(out, values | {"task": task.id}) for out in task.outputs]


def not_produced(task: Task, values: dict[str, str], cwd: str, result: Exit) -> str:
    """The first declared output a successful attempt did not leave, or "": looked for in
    `cwd`, or what its executor found missing where it ran (another host: `result.missing`)."""
    for out, path in zip(task.outputs, output_paths(task, values), strict=True):
        if result.missing is not None:
            if path in result.missing:
                return out
        elif not os.path.exists(os.path.join(cwd, path)):
            return out
    return ""
