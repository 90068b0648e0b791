"""Taking over a run whose engine died: what was in flight, what still runs, what to do with it.

A dead engine's tasks are found two ways: the fold (tasks started and not finished, with the
pid and start time their `task.started` recorded) and the process table (every process whose
environment carries the run's PHASEGATE_RUN_ID, which also finds a task whose start never
reached the disk). Each in-flight task then follows its `on_resume` policy.
"""

from __future__ import annotations

import contextlib
import os

import msgspec
import psutil

from phasegate.engine.exec.group import same_process, stop_groups
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import TaskStatus

GRACE = 5.0  # TERM to KILL for a dead engine's leftover process groups (the plan's default)
ACTIONS = ("rerun", "adopt", "skip")


class Leftover(msgspec.Struct):
    """One task attempt of the dead engine: its processes that still run, if any."""

    task: str
    attempt: int
    pids: list[int] = []
    pgids: set[int] = set()
    leader: int | None = None  # the attempt's first process, alive with its recorded start time

    @property
    def alive(self) -> bool:
        return bool(self.pids)


ByTask = dict[tuple[str, int], list[psutil.Process]]


def processes_by_run(untasked: bool = False) -> dict[str, ByTask]:
    """Live processes started by phasegate engines, by run and (task, attempt), from the
    PHASEGATE_RUN_ID, PHASEGATE_TASK and PHASEGATE_ATTEMPT their environment carries;
    `untasked`: also the run's commands that are no task's (a monitor's check, a criterion, a
    probe, a research query, notify), under ("", 0)."""
    found: dict[str, ByTask] = {}
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            env = proc.environ()
            run_id, task = env.get("PHASEGATE_RUN_ID"), env.get("PHASEGATE_TASK") or ""
            if not run_id or not (task or untasked) or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            attempt = int(env.get("PHASEGATE_ATTEMPT") or 0) if task else 0
        except (psutil.Error, ValueError, OSError):
            continue
        found.setdefault(run_id, {}).setdefault((task, attempt), []).append(proc)
    return found


def run_processes(run_id: str, untasked: bool = False) -> ByTask:
    """Live processes that belong to the run, by (task, attempt) (`untasked`: its commands that
    are no task's too, under ("", 0))."""
    return processes_by_run(untasked).get(run_id, {})


def leftovers(
    state: RunState, run_id: str, run_dir: str = "", procs: ByTask | None = None
) -> list[Leftover]:
    """Every task attempt the dead engine had in flight or left processes of, in plan order;
    with `run_dir`, also those it spawned whose start never reached the database (its
    journal, engine/exec/adopt.py): they may have run, so they run again as a new attempt.
    `procs`: the run's processes, when the caller has looked them up already."""
    started = {t.id: t for t in state.tasks.values() if t.status is TaskStatus.RUNNING}
    procs = run_processes(run_id) if procs is None else procs
    found: dict[str, Leftover] = {}
    for tid, t in started.items():
        found[tid] = Leftover(tid, t.attempts)
    if run_dir:
        from phasegate.engine.exec.adopt import Journal

        for tid, number in Journal.read(run_dir).items():
            spawned = state.tasks.get(tid)
            if spawned is not None and number > spawned.attempts and not spawned.status.terminal:
                found.setdefault(tid, Leftover(tid, number)).attempt = number
    for (tid, attempt), plist in procs.items():
        if tid not in state.tasks:
            continue
        item = found.setdefault(tid, Leftover(tid, attempt))
        item.attempt = max(item.attempt, attempt)
        item.pgids |= _groups(plist)
        for proc in plist:
            item.pids.append(proc.pid)
            t = state.tasks[tid]
            if t.pid == proc.pid and attempt == t.attempts:
                item.leader = proc.pid
    order = list(state.tasks)
    return sorted(found.values(), key=lambda item: order.index(item.task))


def _groups(procs: list[psutil.Process]) -> set[int]:
    """The process groups of live processes (one that is gone meanwhile has none)."""
    found: set[int] = set()
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            found.add(os.getpgid(proc.pid))
    return found


def adoptable(item: Leftover, started: float | None) -> bool:
    """Can the attempt be waited for: its first process lives, with its recorded start time."""
    return same_process(item.leader, started)


async def take_over(
    state: RunState,
    run_id: str,
    policies: dict[str, str],
    decisions: dict[str, str],
    run_dir: str = "",
    remote: set[str] | None = None,
    grace: float = GRACE,
    keep: frozenset[str] = frozenset(),
) -> list[dict[str, object]]:
    """Settle every task attempt the dead engine left: the entries of `run.recovered`.

    `policies`: each task's `on_resume`; `decisions`: the operator's answer for a task whose
    policy is `ask` (rerun, adopt or skip). An attempt is adopted when its process lives on with
    its recorded start time, or has ended and left its exit status; else it runs again.
    Processes of a task that is not adopted are stopped before anything starts again, so
    nothing of the dead engine is left running, nor its commands that are no task's (a gate's
    criterion under way would otherwise run twice). `remote`: tasks of agents on other hosts,
    settled by their executor instead (engine/run/takeover.py). `grace`: TERM to KILL for
    what is stopped (the plan's `kill_grace`). `keep`: tasks that keep their background (what
    an adopted attempt that has ended left running is stopped, as their end would, but theirs).
    """
    entries: list[dict[str, object]] = []
    procs = run_processes(run_id, untasked=True)
    # the dead engine's commands that are no task's (a gate's criterion, a monitor's check, a
    # probe: they would run twice beside the new engine's), not those this engine has started,
    # nor a notify command telling people something (it ends on its own: nobody sends it again)
    procs[("", 0)] = [p for p in procs.get(("", 0), []) if not _ours(p) and not _telling(p)]
    # processes of the run whose task the fold does not know (PHASEGATE_RUN_ID says whose they
    # are): stopped all the same, so that nothing of the dead engine is left running
    stop = {
        g for (tid, _), plist in procs.items() if tid not in state.tasks for g in _groups(plist)
    }
    for item in leftovers(state, run_id, run_dir, procs):
        if remote and item.task in remote:
            continue
        policy = policies.get(item.task, "rerun")
        action = decisions.get(item.task, "rerun") if policy == "ask" else policy
        if action not in ACTIONS:
            action = "rerun"
        note = ""
        if item.attempt > state.tasks[item.task].attempts:  # (spawned: journal, processes)
            note = f"its start never reached the disk: attempt {item.attempt} may have run"
        ended = False
        if action == "adopt":
            action, note, ended = _adopt(state, item, run_dir)
        if action == "adopted" and ended and item.alive and item.task not in keep:
            note += "; what it left running is stopped"
        if action != "adopted" or (ended and item.task not in keep):
            stop |= item.pgids
        entries.append(
            {
                "task": item.task,
                "attempt": item.attempt,
                "action": "skipped" if action == "skip" else action,
                "pids": sorted(item.pids),
                "note": note,
            }
        )
    if stop:
        await stop_groups(stop, grace)
    return entries


def _ours(proc: psutil.Process) -> bool:
    """Is `proc` under this process (or gone: nothing to stop)."""
    try:
        return any(parent.pid == os.getpid() for parent in proc.parents())
    except psutil.Error:
        return True


def _telling(proc: psutil.Process) -> bool:
    """Is `proc` a notify command (engine/run/notify.py gives it PHASEGATE_EVENT)?"""
    try:
        return "PHASEGATE_EVENT" in proc.environ()
    except psutil.Error:
        return False


def _adopt(state: RunState, item: Leftover, run_dir: str) -> tuple[str, str, bool]:
    """(`adopted` or `rerun`, why, whether the attempt has ended) for an attempt whose task
    asks to be adopted. One that ended with an exit status is adopted with it, even when it
    left processes running (they are its leftovers, stopped as its end would), or ended
    between the look at the process table and now: it was run again."""
    from phasegate.engine.exec.adopt import files_for, read_status

    t = state.tasks[item.task]
    if not run_dir:
        return "rerun", "no run directory to read its output from: run again", False
    if item.attempt == t.attempts and adoptable(item, t.proc_started):
        return "adopted", f"its process {item.leader} lives on", False
    code = read_status(files_for(run_dir, item.task, item.attempt))
    if code is not None:
        return "adopted", f"it ended with exit code {code} while no engine ran", True
    return "rerun", "its process is gone and left no exit status: run again", True
