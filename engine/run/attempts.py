"""One task attempt from spawn to outcome: its command and environment, its output lines (with
the output cap), its timeout, its end, and the retry that may follow. Mixed into the Runner."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.durable.adopt import FileTail
from engine.exec.argv import argv_for, wrap
from engine.exec.local import Exit, Handle, ProcSpec, process_start_time
from engine.model import events as ev
from engine.plan.model import Task
from engine.plan.template import substitute
from engine.store.base import OutputDrop, OutputLine

if TYPE_CHECKING:
    from engine.exec.local import Executor
    from engine.model.state import RunState
    from engine.plan.model import Plan
    from engine.plan.scheduler import Scheduler
    from engine.store.sink import Sink

MAX_BACKOFF = 300.0
DROP_EVERY = 10_000  # lines dropped by the output cap between two deletes


@dataclass(slots=True)
class _Attempt:
    """Book-keeping of one running attempt (output accounting, timers); not run state."""

    task: Task
    number: int
    agent: str
    handle: Handle | None = None
    lines: int = 0
    bytes: int = 0
    dropped: int = 0
    dropped_written: int = 0
    sizes: deque[int] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None
    timed_out: bool = False
    tail: FileTail | None = None  # output read from files (`on_resume: adopt`), not pipes


class Attempts:
    # provided by the Runner
    plan: Plan
    state: RunState
    run_id: str
    _sink: Sink
    _sched: Scheduler
    _executor: Executor
    _tasks: dict[str, Task]
    _running: dict[str, _Attempt]
    _values: dict[str, str]
    _env: dict[str, str]
    _feedback: str
    _workdir: str
    run_dir: str
    _last_output: dict[str, float]
    _stopping: dict[str, str]
    _stop_reason: dict[str, str]
    _cancel_reason: str
    _retry_timers: dict[str, asyncio.TimerHandle]
    _adoptable: Callable[[_Attempt, list[str]], list[str]]  # (TakeOver's: later in the MRO)

    def emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def _settled(self, tid: str) -> None:
        raise NotImplementedError

    def _dispatch(self) -> None:
        raise NotImplementedError

    def _check_phase_done(self) -> None:
        raise NotImplementedError

    def _task_env(self) -> dict[str, str]:
        if not self._feedback:
            return self._env
        return self._env | {"PHASEGATE_FEEDBACK": self._feedback}

    def _start(self, tid: str, agent: str) -> None:
        task = self._tasks[tid]
        number = self.state.tasks[tid].attempts + 1
        env = dict(self._task_env())
        env.update(task.env)
        env["PHASEGATE_TASK"] = tid
        env["PHASEGATE_ATTEMPT"] = str(number)
        template = self.plan.agents[agent].command
        command = task.run
        if "{" in command or "}" in command or template:
            values = self._values | {"task": tid}
            command = substitute(command, values)
            template = substitute(template, values) if template else None
        argv = wrap(template, command) if template else argv_for(command)
        attempt = self._attempt(task, number, agent)
        if task.on_resume != "rerun" and self.run_dir:
            argv = self._adoptable(attempt, argv)
        self._running[tid] = attempt
        handle = self._executor.start(
            ProcSpec(argv, env, self._workdir, task.keep_background),
            lambda stream, text: self._line(attempt, stream, text),
            lambda result: self._finished(attempt, result),
        )
        attempt.handle = handle
        self.emit(
            ev.TaskStarted(
                self.now(),
                tid,
                number,
                agent,
                handle.pid,
                handle.pgid,
                command,
                # only an attempt that may be adopted needs it: reading it right after the spawn
                # waits for the child's exec to finish (a third of a task's cost in the parent)
                process_start_time(handle.pid) if attempt.tail is not None else None,
            )
        )
        if task.timeout:
            attempt.timer = asyncio.get_running_loop().call_later(
                task.timeout, self._timeout, attempt
            )

    def _attempt(self, task: Task, number: int, agent: str) -> _Attempt:
        return _Attempt(task, number, agent)

    def _line(self, a: _Attempt, stream: str, text: str) -> None:
        a.lines += 1
        now = self.now()
        self._last_output[a.task.id] = now
        self._sink.output(OutputLine(self.run_id, a.task.id, a.number, a.lines, stream, text, now))
        size = len(text) + 1
        a.sizes.append(size)
        a.bytes += size
        cap = self.plan.output_cap
        while a.bytes > cap and a.sizes:
            a.bytes -= a.sizes.popleft()
            a.dropped += 1
        if a.dropped - a.dropped_written >= DROP_EVERY:
            self._write_drop(a)

    def _write_drop(self, a: _Attempt) -> None:
        if a.dropped > a.dropped_written:
            a.dropped_written = a.dropped
            self._sink.drop(OutputDrop(self.run_id, a.task.id, a.number, a.dropped + 1))

    def _timeout(self, a: _Attempt) -> None:
        a.timed_out = True
        if a.handle is not None:
            a.handle.terminate(self.plan.kill_grace)

    def _finished(self, a: _Attempt, result: Exit) -> None:
        tid, task = a.task.id, a.task
        if a.timer is not None:
            a.timer.cancel()
        if a.tail is not None:
            for stream, text in a.tail.poll(final=True):
                self._line(a, stream, text)
        self._write_drop(a)
        self._sched.release(tid, a.agent)
        del self._running[tid]
        status, reason = self._outcome(a, result)
        self.emit(
            ev.TaskFinished(
                self.now(), tid, a.number, status, result.code, a.lines, a.dropped, reason
            )
        )
        retry = status in ("failed", "timed_out") and a.number <= task.retries
        if retry and not self._cancel_reason:
            delay = min(task.backoff * 2 ** (a.number - 1), MAX_BACKOFF)
            self.emit(ev.TaskRetrying(self.now(), tid, a.number + 1, delay, reason))
            self._retry_timers[tid] = asyncio.get_running_loop().call_later(delay, self._retry, tid)
        else:
            self._settled(tid)
        self._dispatch()
        self._check_phase_done()

    def _outcome(self, a: _Attempt, result: Exit) -> tuple[str, str]:
        if a.task.id in self._stopping:
            return self._stopping.pop(a.task.id), self._stop_reason.pop(a.task.id, "")
        if a.timed_out:
            return "timed_out", f"timed out after {a.task.timeout:g}s"
        if self._cancel_reason and result.code != 0:
            return "cancelled", self._cancel_reason
        if result.code == 0:
            for out in a.task.outputs:
                path = os.path.join(
                    self._workdir, substitute(out, self._values | {"task": a.task.id})
                )
                if not os.path.exists(path):
                    return "failed", f"declared output '{out}' was not produced"
            return "succeeded", ""
        if result.error:
            return "failed", result.error
        if result.code is not None and result.code < 0:
            try:
                name = signal.Signals(-result.code).name
            except ValueError:
                name = f"signal {-result.code}"
            return "failed", f"killed by {name}"
        return "failed", f"exited with code {result.code}"

    def _retry(self, tid: str) -> None:
        del self._retry_timers[tid]
        if self._cancel_reason:
            self._settled(tid)
            self._check_phase_done()
            return
        self._sched.push(tid)
        self._dispatch()
