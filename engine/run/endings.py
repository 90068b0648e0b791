"""What an attempt's end hands on, as events: its test results (engine/run/results.py) and, for
an attempt in its own git worktree, its work committed on its branch with the patch kept
(engine/exec/worktree.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from phasegate.engine.exec.base import Exit
from phasegate.engine.exec.worktree import WorktreeError, Worktrees
from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.plan.check import leaves_workdir
from phasegate.engine.plan.messages import cut
from phasegate.engine.plan.model import Plan, Task
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


def outside_output(task: Task, values: dict[str, str], workdir: str) -> str:
    """Why the task must not start: a declared output whose path, once its placeholders are
    filled in (`{name}.dat` with `name=../../etc/x`), leaves the workdir; "" when none does.
    The plan's check sees only the text as written; this sees the path the task would write."""
    for out, path in zip(task.outputs, output_paths(task, values), strict=True):
        if leaves_workdir(path, workdir):
            shown = f"'{cut(out)}'" + (f" is '{cut(path)}'," if path != out else "")
            return (
                f"task '{cut(task.id)}': its output {shown} outside the workdir; a hand-off names "
                "files under it (or set `absolute_outputs: true` to allow this)"
            )
    return ""


def refuse_outside_outputs(plan: Plan, values: dict[str, str], workdir: str) -> None:
    """UsageError (exit 2) naming each task whose outputs, with the run's variables, leave the
    workdir (unless the plan has `absolute_outputs: true`): before anything is run."""
    if plan.absolute_outputs:
        return
    refused = [why for _, t in plan.tasks() if (why := outside_output(t, values, workdir))]
    if refused:
        from phasegate.engine.model.errors import UsageError

        raise UsageError(f"{'; '.join(refused)}; nothing was run")


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


def outcome(
    task: Task, result: Exit, stopping: tuple[str, str], timed_out: bool, cancelling: str
) -> tuple[str, str]:
    """An attempt's status and reason from how it ended: an operator's stop under way
    (`stopping`: its status and reason), its timeout, the run's cancel, its exit (a success
    whose declared outputs are missing is the caller's to judge: `not_produced`)."""
    if stopping[0]:
        return stopping
    if timed_out:
        return TaskStatus.TIMED_OUT, f"timed out after {task.timeout:g}s"
    if cancelling and result.code != 0:
        return TaskStatus.CANCELLED, cancelling
    if result.code == 0:
        return TaskStatus.SUCCEEDED, ""
    if result.error:
        return TaskStatus.FAILED, result.error
    if result.code is not None and result.code < 0:
        try:
            name = signal.Signals(-result.code).name
        except ValueError:
            name = f"signal {-result.code}"
        return TaskStatus.FAILED, f"killed by {name}"
    return TaskStatus.FAILED, f"exited with code {result.code}"
