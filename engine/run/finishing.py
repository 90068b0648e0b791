"""The end of a task attempt: its last output kept, its slot given back, its outcome decided (and
why), its results and hand-off recorded, and the retry that may follow (after its backoff): a part
of the run (run/attempts, which starts the attempts this ends)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec.structs

from phasegate.engine.exec.base import Exit
from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.run import trees
from phasegate.engine.run.endings import not_produced, outcome, results_event
from phasegate.engine.run.results import read as read_results

if TYPE_CHECKING:
    from collections.abc import Callable

    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.attempts import Attempts, _Attempt
    from phasegate.engine.run.host import Host
    from phasegate.engine.run.progress import Progress

MAX_BACKOFF = 300.0
NOT_STARTED = "not started: "  # an executor's Exit.error for an attempt that ran nothing


class Finishing:
    """Turns an attempt's exit into its end, as events, and waits for the retries that follow.
    Holds only the retries' timers and the restarts asked for: what the run decides from is in
    the fold."""

    def __init__(
        self,
        host: Host,
        attempts: Attempts,
        sched: Scheduler,
        progress: Progress,
        *,
        values: dict[str, str],
        redact: Callable[[str], str],
    ) -> None:
        """`attempts`: the attempts this ends (what runs, its output, its talks, its worktrees)."""
        self._host, self._attempts, self._sched, self._progress = host, attempts, sched, progress
        self._values, self._redact = values, redact
        self._retry_timers: dict[str, asyncio.TimerHandle] = {}
        self._restarting: dict[str, str] = {}  # task -> why its attempt stops to run again

    def waiting(self) -> bool:
        """A retry waits for its backoff."""
        return bool(self._retry_timers)

    def restarting(self, tid: str, reason: str) -> None:
        """The task's attempt, being stopped, ends cancelled with `reason`; the next starts at
        once."""
        self._restarting[tid] = reason

    def forget(self, tid: str) -> None:
        """A task that waits for a retry will not run again (skipped or cancelled)."""
        timer = self._retry_timers.pop(tid, None)
        if timer is not None:
            timer.cancel()

    def cancel(self) -> None:
        """The run is cancelled: no retry starts."""
        for timer in self._retry_timers.values():
            timer.cancel()
        self._retry_timers.clear()

    def finished(self, a: _Attempt, result: Exit) -> None:
        """The attempt's process has exited (or it never started): its end, as events."""
        host, attempts = self._host, self._attempts
        tid, task = a.task.id, a.task
        # (its executor says it ran nothing: no results, no hand-off of a tree nothing touched)
        ran = not (result.code is None and result.error.startswith(NOT_STARTED))
        if not a.began and not ran:
            # (its executor says it ran nothing: a Dask scheduler not reached, workers that all
            # refused it) recorded as unspawned, as a spent budget's attempt is
            a.began = True
            why = result.error.removeprefix(NOT_STARTED)
            host.emit(
                ev.TaskStarted(host.now(), tid, a.number, a.agent, 0, 0, f"{ev.NOT_STARTED}{why})")
            )
        elif not a.began:  # (it ended in its executor's queue: cancelled, its cluster gone)
            attempts.began(a)
        if a.timer is not None:
            a.timer.cancel()
        if a.worktree and not a.blocked and ran and a.handoff is None:
            self._handoff(a, result)  # (then here again)
            return
        if a.tail is not None:
            for stream, text in a.tail.poll(final=True):
                attempts.output.line(a, stream, text)
        attempts.output.flush([a])
        attempts.output.write_drop(a)
        self._sched.release(tid, a.agent)
        del attempts.running[tid]
        if a.talk is not None:
            attempts.talks.ended(a)
            failure = attempts.talks.failure(a)  # (the agent's own word on why, whatever its code)
            if failure and not result.error and (result.code is None or result.code >= 0):
                result = msgspec.structs.replace(result, code=result.code or 1, error=failure)
        if a.task.results is not None and not a.blocked and ran:
            self._results(a)
        if a.handoff is not None:
            host.emit(a.handoff)
        restarted = self._restarting.pop(tid, "")
        t = host.state.tasks[tid]
        status, reason = outcome(
            a.task, result, (t.stopping, t.stop_reason), a.timed_out, host.state.cancelling
        )
        missing = not_produced(task, self._values, a.cwd, result) if status == "succeeded" else ""
        if missing:
            status, reason = TaskStatus.FAILED, f"declared output '{missing}' was not produced"
        if restarted:
            status, reason = TaskStatus.CANCELLED, restarted
        now = host.now()
        ended = result.ended_at if result.ended_at is not None and result.ended_at < now else None
        began = host.state.tasks[tid].attempt_started_at
        if ended is not None and began is not None:  # (a file's time is the kernel's coarse
            ended = max(ended, began)  # clock: an instant exit may read before its start)
        host.emit(
            ev.TaskFinished(
                now,
                tid,
                a.number,
                status,
                result.code,
                a.lines,
                a.dropped,
                reason,
                ended,
                result.lost_on,  # (its process may run on there: a take-over stops it)
                result.lost_pgid,
            )
        )
        retry = status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT) and a.number <= task.retries
        retry = (retry and not a.blocked) or bool(restarted)
        if retry and not host.state.cancelling:
            delay = 0.0 if restarted else min(task.backoff * 2 ** (a.number - 1), MAX_BACKOFF)
            host.emit(ev.TaskRetrying(host.now(), tid, a.number + 1, delay, reason))
            self._retry_timers[tid] = asyncio.get_running_loop().call_later(delay, self._retry, tid)
        else:
            self._progress.settled(tid)
        host.dispatch()
        self._progress.check_done()

    def _results(self, a: _Attempt) -> None:
        """Read the attempt's test results (its JUnit file, or its summary line)."""
        assert a.task.results is not None
        found = read_results(a.task.results, a.cwd, a.summary)
        self._host.emit(results_event(self._host.now(), a.task.id, a.number, found, self._redact))

    def _handoff(self, a: _Attempt, result: Exit) -> None:
        """Commit what the attempt changed in its worktree on its branch, and keep the patch, in
        a thread, its slot held; then it ends, at its exit's time (git's is no part of it)."""
        if result.ended_at is None:
            result = msgspec.structs.replace(result, ended_at=self._host.now())

        def made(event: ev.TaskHandoff) -> None:
            a.handoff = event
            self.finished(a, result)

        worktrees = self._attempts.worktrees
        trees.hand_off(worktrees, a.task.id, a.number, self._redact, self._host.now, made)

    def _retry(self, tid: str) -> None:
        del self._retry_timers[tid]
        if self._host.state.cancelling:
            self._progress.settled(tid)
            self._progress.check_done()
            return
        self._sched.push(tid)
        self._host.dispatch()
