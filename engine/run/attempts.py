"""One task attempt from its spawn until it exits: its command and environment, where it runs, its
timeout: a part of the run. Its output lines go to run/output; its end and the retry that may
follow are run/finishing's."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from phasegate.engine.agents.base import Launch
from phasegate.engine.exec.adopt import POLL, FileTail, Journal, files_for, private
from phasegate.engine.exec.adopt import wrap as wrap_for_files
from phasegate.engine.exec.base import Exit, Handle
from phasegate.engine.exec.worktree import Worktree, WorktreeError, Worktrees
from phasegate.engine.model import events as ev
from phasegate.engine.model.secrets import LineWindow, Redactor
from phasegate.engine.plan.model import Task
from phasegate.engine.run import trees
from phasegate.engine.run.endings import output_paths, outside_output
from phasegate.engine.run.finishing import Finishing
from phasegate.engine.run.output import Output
from phasegate.engine.run.results import Summary

if TYPE_CHECKING:
    from phasegate.engine.agents.base import AgentAdapter
    from phasegate.engine.agents.talk import Talk
    from phasegate.engine.exec.executors import Executors
    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.budgets import Budgets
    from phasegate.engine.run.host import Host
    from phasegate.engine.run.progress import Progress
    from phasegate.engine.run.talks import Talks


class _Attempt(msgspec.Struct):
    """Book-keeping of one running attempt (output accounting, timers); not run state."""

    task: Task
    number: int
    agent: str
    handle: Handle | None = None
    lines: int = 0
    bytes: int = 0
    dropped: int = 0
    dropped_written: int = 0
    sizes: deque[int] = msgspec.field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None
    timed_out: bool = False
    tail: FileTail | None = None  # output read from files (`on_resume: adopt`), not pipes
    talk: Talk | None = None  # a coding agent spoken to in its protocol (run/talks)
    windows: dict[str, LineWindow] = {}  # stream -> lines held
    blocked: bool = False  # not started: its budget is spent (no retry either)
    cwd: str = ""  # where it runs (its own git worktree, or the run's workdir)
    summary: Summary | None = None  # watches its output for the results' summary line
    worktree: bool = False
    began: bool = False  # its task.started emitted (an executor's queue is no start)
    command: str = ""  # what it runs, as task.started says
    handoff: ev.TaskHandoff | None = None  # its hand-off, made (in a thread) before its end


class Attempts:
    """Starts attempts on the executor and turns what happens to them into events. Holds only
    what a running process needs (its handle, timers, output accounting): what the run decides
    from is in the fold."""

    def __init__(
        self,
        host: Host,
        sched: Scheduler,
        executors: Executors,
        progress: Progress,
        adapters: dict[str, AgentAdapter],
        *,
        values: dict[str, str],
        env: dict[str, str],
        workdir: str,
        run_dir: str,
        secrets: dict[str, str] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        """`secrets`: the declared secrets' values, given to the tasks (and the agents' tasks)
        that name them; `redactor`: what every output line goes through before it is kept."""
        self._host, self._sched, self._progress = host, sched, progress
        self._executors = executors  # agent -> where its tasks run (engine/exec/executors)
        self._secrets = secrets or {}
        self._redactor = redactor or Redactor(self._secrets)
        self._redact = self._redactor.text
        self.output = Output(host, self._redactor)  # its lines, as the run keeps them
        self._adapters = adapters  # agent -> what it makes of a task (engine/agents)
        self._tasks = {t.id: t for _, t in host.plan.tasks()}
        self._values, self._env, self._workdir, self._run_dir = values, env, workdir, run_dir
        self._journal = Journal(run_dir)
        self.talks: Talks  # set by the loop: coding agents' conversations
        self.budgets: Budgets  # set by the loop: what coding agents may spend
        self.worktrees: Worktrees | None = None  # set by the loop for `worktree: true` plans
        self.running: dict[str, _Attempt] = {}
        # their ends, and the retries that follow
        self._ends = Finishing(host, self, sched, progress, values=values, redact=self._redact)
        self._tailing: asyncio.TimerHandle | None = None

    # -- what the other parts ask -----------------------------------------------------------

    def running_now(self, tid: str) -> bool:
        return tid in self.running

    def idle(self) -> bool:
        """Nothing runs and no retry waits."""
        return not self.running and not self._ends.waiting()

    def task_env(self) -> dict[str, str]:
        """The environment of a task (and of a gate's criteria): the rejection that rewound
        the run, if any, as PHASEGATE_FEEDBACK."""
        feedback = self._host.state.feedback
        return self._env | {"PHASEGATE_FEEDBACK": feedback} if feedback else self._env

    def stop(self, tid: str, grace: float) -> bool:
        """Terminate a running attempt's group (TERM, grace, KILL); False when none runs."""
        a = self.running.get(tid)
        if a is None or a.handle is None:
            return False
        a.handle.terminate(grace)
        return True

    def restart(self, tid: str, grace: float, reason: str) -> None:
        """Stop a running attempt and run the task again (its plan entry changed): the attempt
        ends cancelled with `reason`, the next one starts at once."""
        if self.stop(tid, grace):
            self._ends.restarting(tid, reason)

    def forget(self, tid: str) -> None:
        """A task that waits for a retry will not run again (skipped or cancelled)."""
        self._ends.forget(tid)

    def cancel(self, grace: float) -> None:
        """The run is cancelled: no retry starts, every running group is terminated."""
        self._ends.cancel()
        for a in self.running.values():
            if a.handle is not None:
                a.handle.terminate(grace)

    def kill_all(self) -> None:
        for a in self.running.values():
            if a.handle is not None:
                a.handle.kill()
        self._journal.close()

    # -- one attempt ---------------------------------------------------------------------------

    def start(self, tid: str, agent: str, tree: Worktree | str | None = None) -> None:
        """An attempt of `tid` on `agent`, its slot taken; one in a worktree starts here again
        with `tree` (or why there is none), made in a thread meanwhile."""
        host = self._host
        task = self._tasks[tid]
        number = host.state.tasks[tid].attempts + 1
        env = self.task_env() | host.plan.agents[agent].env  # (the task's own env wins)
        env.update(task.env)
        for name in (*host.plan.agents[agent].secrets, *task.secrets):  # (environment only)
            env[name] = self._secrets[name]
        env["PHASEGATE_TASK"] = tid
        env["PHASEGATE_ATTEMPT"] = str(number)
        state = host.state.tasks[tid]
        session = state.session_id  # (a retry, a rework: the same session)
        spent = float(state.usage.get("cost_usd", 0.0)) if session else 0.0
        attempt = _Attempt(task, number, agent, cwd=self._workdir)
        if task.results is not None and task.results.summary is not None:
            attempt.summary = Summary(task.results.summary)
        why = self.budgets.blocked(tid)
        if not why and task.outputs and not host.plan.absolute_outputs:
            why = outside_output(task, self._values, self._workdir)  # (one an amendment added)
        if not why and self._in_worktree(task, agent):
            attempt.worktree = True
            if tree is None:  # (with a session, from what its last attempt left: its agent
                self.running[tid] = attempt  # remembers it)
                go_on = functools.partial(self.start, tid, agent)
                stop = lambda: trees.stopped(self._host.state, tid)  # noqa: E731
                trees.make(self.worktrees, tid, number, bool(session), go_on, stop)
                return
            if isinstance(tree, str):
                why = tree
            else:  # (cancelled meanwhile: it ends so, unspawned)
                attempt.cwd = tree.cwd
                why = trees.stopped(host.state, tid)
        env["PHASEGATE_WORKDIR"] = attempt.cwd
        history = self.output.history(tid) if session else ()
        launch = Launch(task, number, env, attempt.cwd, session, spent, history)
        adapter = self._adapters[agent]
        spec, command = adapter.spec(launch)
        spec.kill_grace = host.plan.kill_grace  # (also for what it leaves behind)
        spec.resources = dict(task.uses)
        spec.outputs = output_paths(task, self._values)  # (looked for there on another host)
        remote = self._executors.is_remote(agent)  # (its executor keeps its output remotely)
        if task.on_resume != "rerun" and self._run_dir and not remote:
            files = private(files_for(self._run_dir, tid, number))
            attempt.tail = FileTail(files)
            self._follow_files()
            spec.argv = wrap_for_files(spec.argv, files)
        self.running[tid] = attempt
        if why:  # a budget it spends from is spent, or no worktree: it ends failed, unspawned
            attempt.blocked = True
            unspawned = f"{ev.NOT_STARTED}{why})"
            host.emit(ev.TaskStarted(host.now(), tid, number, agent, 0, 0, unspawned))
            asyncio.get_running_loop().call_soon(self._ends.finished, attempt, Exit(None, why))
            return
        if attempt.tail is None:  # (an attempt that may be adopted is not spoken to)
            attempt.talk = adapter.conversation(launch)
        read = self.talks.line if attempt.talk is not None else self.output.line
        executor = self._executors.for_agent(agent)
        self._journal.note(tid, number)  # (before the spawn: see adopt.Journal)
        handle = executor.start(
            spec,
            lambda stream, text: read(attempt, stream, text),
            lambda result: self._ends.finished(attempt, result),
        )
        attempt.handle, attempt.command = handle, command
        if attempt.talk is not None:
            self.talks.start(attempt)
        when_started = getattr(handle, "when_started", None)
        if when_started is not None and getattr(handle, "queued", False):
            # (a Dask task waits in the cluster's queue: it starts when a worker runs it)
            when_started(lambda: self.began(attempt))
            return
        self.began(attempt)

    def began(self, a: _Attempt) -> None:
        """The attempt's command has started: task.started, and its timeout from now."""
        if a.began or a.handle is None:
            return
        a.began = True
        host, handle = self._host, a.handle
        executor = self._executors.for_agent(a.agent)
        host.emit(
            ev.TaskStarted(
                host.now(),
                a.task.id,
                a.number,
                a.agent,
                handle.pid,
                handle.pgid,
                a.command,
                # only an attempt that may be adopted needs it: reading it right after the spawn
                # waits for the child's exec to finish (a third of a task's cost in the parent)
                executor.started_at(handle) if a.tail is not None else None,
            )
        )
        if a.task.timeout:
            a.timer = asyncio.get_running_loop().call_later(a.task.timeout, self._timeout, a)

    def adopt(
        self, tid: str, number: int, agent: str, tail: FileTail | None, lines: int
    ) -> _Attempt:
        """An attempt a dead engine started, still running: its slot stays taken, its output
        is read on from its files."""
        task = self._tasks[tid]
        attempt = _Attempt(
            task, number, agent, lines=lines, tail=tail, cwd=self._workdir, began=True
        )
        if self._in_worktree(task, agent):
            attempt.worktree = True
            attempt.cwd = self._worktrees().of(tid, number).cwd
        self._sched.occupy(tid, agent)
        self.running[tid] = attempt
        if tail is not None:  # (on another host, its executor reads its output there)
            self._follow_files()
        return attempt

    def outputs(self, task: Task) -> list[str]:
        """Its declared outputs, as its executor looks for them."""
        return output_paths(task, self._values)

    def finished(self, attempt: _Attempt) -> Callable[[Exit], None]:
        return lambda result: self._ends.finished(attempt, result)

    def show(self, a: _Attempt, stream: str, text: str) -> None:
        """A line of the attempt's output as people read it (an agent's transcript)."""
        self.output.line(a, stream, text)

    def flush_windows(self) -> None:
        """Keep the lines held for secrets (once a second: they wait that long at most)."""
        self.output.flush(self.running.values())

    def _timeout(self, a: _Attempt) -> None:
        if getattr(a.handle, "exited", False):  # (it ended in time: what it left is stopped)
            return
        a.timed_out = True
        if a.handle is not None:
            a.handle.terminate(self._host.plan.kill_grace)

    def _in_worktree(self, task: Task, agent: str) -> bool:
        wanted = task.worktree
        return self._host.plan.agents[agent].worktree if wanted is None else wanted

    def _worktrees(self) -> Worktrees:
        if self.worktrees is None:  # (the repository was gone when the run started)
            raise WorktreeError("the run has no git repository to make worktrees from")
        return self.worktrees

    # -- output read from files (an attempt that may be adopted after a crash) ---------------

    def _follow_files(self) -> None:
        if self._tailing is None:
            self._tailing = asyncio.get_running_loop().call_later(POLL, self._read_files)

    def _read_files(self) -> None:
        self._tailing = None
        tailed = [a for a in self.running.values() if a.tail is not None]
        for a in tailed:
            assert a.tail is not None
            for stream, text in a.tail.poll():
                self.output.line(a, stream, text)
        if tailed:
            self._follow_files()
