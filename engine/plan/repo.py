"""The git repository a plan's `worktree: true` agents and tasks work in: its workdir must be in
one, with a commit to start from. Checked with the plan (validate, plan, run), so a run never
starts and then fails at its first attempt."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

from phasegate.engine.plan.flaws import ID, Flaw, dicts, mapping
from phasegate.engine.plan.messages import cut

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


def workdir_of(data: dict[str, Any], base_dir: str) -> str:
    """The plan's workdir as a run has it (Plan.base_dir): `workdir` from the plan file's
    directory `base_dir`, or that directory."""
    workdir = data.get("workdir")
    if not isinstance(workdir, str):
        return base_dir
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(workdir)))


def worktree_flaws(data: dict[str, Any], base_dir: str) -> Iterator[Flaw]:
    """`worktree: true` with a workdir that is not in a git repository with a commit."""
    places = uses_worktrees(data)
    if not places:
        return
    try:
        repository(workdir_of(data, base_dir))
    except ValueError as exc:
        yield Flaw(places[0], True, f"worktree: {exc}")


# characters `git check-ref-format` refuses in a branch name
_REF_CHARS = frozenset(" ~^:?*[\\\x7f") | {chr(c) for c in range(32)}


def branch_refusal(name: str) -> str:
    """Why git refuses `phasegate/<run>/NAME` as a branch name (its `check-ref-format` rules,
    in Python: no `..`, `@{`, control characters, spaces or `~^:?*[\\`, no part that is empty,
    starts with `.` or ends with `.lock`, no `.` at its end); "" when it accepts it."""
    bad = sorted({c for c in name if c in _REF_CHARS})
    if bad:
        return "git refuses " + ", ".join(repr(c) for c in bad) + " in a branch name"
    for part in ("..", "@{"):
        if part in name:
            return f"git refuses '{part}' in a branch name"
    if name.endswith("."):
        return "git refuses a branch name that ends with '.'"
    for part in name.split("/"):
        if not part or part.startswith(".") or part.endswith(".lock"):
            return (
                "git refuses a branch name with a part that is empty, starts with '.' or "
                "ends with '.lock'"
            )
    return ""


def _in_worktrees(data: dict[str, Any]) -> Iterator[tuple[int, int, str, dict[str, Any]]]:
    """(phase index, task index, id, task) of each task that may work in a git worktree: its
    own `worktree: true`, or its agent's (a task without its agent named: any agent's)."""
    agents = mapping(data.get("agents"))
    in_trees = {str(n) for n, a in agents.items() if mapping(a).get("worktree") is True}
    for pi, phase in dicts(data.get("phases")):
        for ti, task in dicts(phase.get("tasks")):
            tid, agent, wanted = task.get("id"), task.get("agent"), task.get("worktree")
            if not isinstance(tid, str) or not ID.match(tid) or wanted is False:
                continue  # (an id of another form: the model says what is wrong with it)
            if wanted is not True and not (agent in in_trees if agent else in_trees):
                continue
            yield pi, ti, tid, task


def handoff_warnings(data: dict[str, Any]) -> Iterator[Flaw]:
    """A task in a worktree whose `outputs:` a task that needs it may look for: they are on the
    task's branch, not in the workdir nor in another worktree (each starts from the run's start
    commit)."""
    needed: dict[str, list[str]] = {}
    for _, phase in dicts(data.get("phases")):
        for _, task in dicts(phase.get("tasks")):
            needs = task.get("needs")
            for need in needs if isinstance(needs, list) else ():
                if isinstance(need, str) and isinstance(task.get("id"), str):
                    needed.setdefault(need, []).append(str(task["id"]))
    for pi, ti, tid, task in _in_worktrees(data):
        outputs = task.get("outputs")
        if not outputs or not isinstance(outputs, list) or tid not in needed:
            continue
        who = ", ".join(cut(d) for d in needed[tid][:3])
        yield Flaw(
            ("phases", pi, "tasks", ti, "outputs"),
            False,
            f"task '{cut(tid)}' works in a git worktree: its outputs stay there, on its branch "
            f"phasegate/<run>/{cut(tid)}-<attempt>; {who} (needing it) will not find them (a "
            "worktree starts from the run's start commit): have them merge that branch, or "
            "give the task `worktree: false`",
        )


def branch_flaws(data: dict[str, Any]) -> Iterator[Flaw]:
    """Ids of tasks that may work in a git worktree whose branch (`phasegate/<run>/<id>-<n>`)
    git would refuse: refused with the plan, not at the task's first attempt."""
    for pi, ti, tid, _ in _in_worktrees(data):
        why = branch_refusal(f"{tid}-1")
        if why:
            yield Flaw(
                ("phases", pi, "tasks", ti, "id"),
                False,
                f"task id '{cut(tid)}' cannot name its attempts' git branches "
                f"(phasegate/<run>/{cut(tid)}-<attempt>; it works in a worktree): {why}; "
                f"rename the task (say '{cut(re.sub(r'[.][.]+', '.', tid))}')",
            )


def _inside(path: str, top: str) -> bool:
    """Is `path` `top` or under it (both normalised)?"""
    top = os.path.abspath(top)
    return os.path.commonpath([os.path.abspath(path), top]) == top


def make_workdir(workdir: str, plan_dir: str) -> None:
    """Make a missing workdir: with its parents inside the plan file's directory (the
    project's own, `.work/main`), elsewhere its last directory only (a typo such as
    `/nonexistent/dir` builds no tree). OSError when it cannot be made."""
    if os.path.isdir(workdir):
        return
    if _inside(workdir, plan_dir):
        os.makedirs(workdir, exist_ok=True)
    else:
        with contextlib.suppress(FileExistsError):
            os.mkdir(workdir)


def workdir_flaws(data: dict[str, Any], base_dir: str) -> Iterator[Flaw]:
    """What stops the plan's workdir from being where its tasks run (an error for a run; a
    warning for `validate` and the dry run, which may be asked on another machine): a file in
    its place, or, outside the plan file's directory, a missing parent (`make_workdir` makes
    only its last directory there)."""
    import stat

    if not isinstance(data.get("workdir"), str):
        return  # (the plan file's directory: it exists)
    where = workdir_of(data, base_dir)
    path: tuple[str | int, ...] = ("workdir",)
    probe = where
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)  # (the nearest part of it that exists)
    try:
        found = os.stat(probe)
    except OSError as exc:  # (one the tasks could not enter either)
        yield Flaw(path, False, f"{probe}: {exc.strerror}")
        return
    if not stat.S_ISDIR(found.st_mode):
        what = where if probe == where else f"{probe}, in its path,"
        yield Flaw(path, False, f"{what} is not a directory; set `workdir:` to a directory")
        return
    parent = os.path.dirname(where)
    if probe in (where, parent) or _inside(where, base_dir):
        return  # (it is there, or `make_workdir` makes it)
    yield Flaw(
        path,
        False,
        f"{where} does not exist, and a run makes only its last directory outside the plan's "
        f"own: {parent} does not exist; create it or correct `workdir:`",
    )
