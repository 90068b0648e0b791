"""One phase under way: which of its tasks wait for how many needs, which are ready, which are
blocked (with their dependents), and when the phase is done.

The counts are derived from the fold each time a phase starts (again, after a take-over), so
they never need to outlive the engine."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import BAD, TaskStatus

if TYPE_CHECKING:
    from phasegate.engine.plan.dag import Graph
    from phasegate.engine.plan.model import Task
    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.attempts import Attempts
    from phasegate.engine.run.fallbacks import Fallbacks
    from phasegate.engine.run.host import Host

_ENDED = {
    TaskStatus.FAILED: "failed",
    TaskStatus.TIMED_OUT: "timed out",
    TaskStatus.CANCELLED: "was cancelled",
    TaskStatus.BLOCKED: "is blocked",
    TaskStatus.UNKNOWN: "ended in an unknown state",
}


class Progress:
    def __init__(self, host: Host, graph: Graph, sched: Scheduler, tasks: dict[str, Task]) -> None:
        self._host, self._graph, self._sched, self._tasks = host, graph, sched, tasks
        self.tasks: set[str] = set()  # the phase under way
        self.remaining = 0  # its tasks not settled yet
        self.waiting: dict[str, int] = {}  # task -> needs (and fallback conditions) not met
        self._done: asyncio.Future[None] | None = None
        # wired by the loop once every part exists
        self.fallbacks: Fallbacks
        self.attempts: Attempts

    @property
    def under_way(self) -> bool:
        return self._done is not None and not self._done.done()

    async def run(self, ids: list[str]) -> None:
        """Run one phase's tasks to their end (or until the run is cancelled)."""
        state = self._host.state
        self._done = asyncio.get_running_loop().create_future()
        self.tasks = set(ids)
        self.fallbacks.skip_unneeded(ids)
        ids = [t for t in ids if not state.tasks[t].status.terminal]
        self.remaining = len(ids)
        for tid in ids:
            self.waiting[tid] = 0
        for tid in ids:
            if self.attempts.running_now(tid):  # adopted from a dead engine: it runs already
                continue
            self.fallbacks.stand_by(tid)
            for need in self._graph.needs[tid]:
                status = state.tasks[need].status
                if self.blocks(need):
                    self.block(tid, f"needs '{need}', which {_ENDED[status]}")
                    break
                if not self.satisfied(need):
                    self.waiting[tid] += 1
            else:
                if self.waiting[tid] == 0:
                    self.make_ready(tid)
        self._host.dispatch()
        self.check_done()
        await self._done

    def satisfied(self, tid: str) -> bool:
        status = self._host.state.tasks[tid].status
        if status is TaskStatus.SUCCEEDED or status is TaskStatus.SKIPPED:
            return True
        if status not in BAD:
            return False
        return self._tasks[tid].on_failure == "continue" or self.fallbacks.rescued(tid)

    def blocks(self, tid: str) -> bool:
        if self._host.state.tasks[tid].status not in BAD:
            return False
        return self._tasks[tid].on_failure == "fail" or self.fallbacks.rescue_failed(tid)

    def make_ready(self, tid: str) -> None:
        if not self._sched.runnable(tid):
            agents = self._sched.candidates[tid]
            why = (
                f"no ready agent can take it ({', '.join(agents)} not ready)"
                if agents
                else "no agent can take it"
            )
            self.block(tid, why)
            return
        if self._host.state.tasks[tid].status is not TaskStatus.READY:  # (a take-over's was)
            self._host.emit(ev.TaskReady(self._host.now(), tid))
        self._sched.push(tid)

    def need_met(self, tid: str) -> None:
        """One thing `tid` waited for happened; ready when it was the last."""
        self.waiting[tid] -= 1
        if self.waiting[tid] == 0:
            self.make_ready(tid)

    def block(self, tid: str, reason: str) -> None:
        """Block a task and, transitively, its dependents waiting in this phase."""
        host = self._host
        work = [(tid, reason)]
        while work:
            tid, reason = work.pop()
            if host.state.tasks[tid].status.terminal:
                continue
            host.emit(ev.TaskBlocked(host.now(), tid, reason))
            self.remaining -= 1
            if self.fallbacks.fail_over(tid):
                continue  # its dependents wait for its fallback
            self.fallbacks.ended(tid)
            if self._tasks[tid].on_failure == "continue":
                self.release_dependents(tid)
                continue
            for dep in self._graph.dependents[tid]:
                if dep in self.tasks:
                    work.append((dep, f"needs '{tid}', which is blocked"))

    def settled(self, tid: str) -> None:
        """A task reached its final status: release or block its dependents in this phase."""
        self.remaining -= 1
        if self.fallbacks.fail_over(tid):
            return  # its dependents wait for its fallback
        self.fallbacks.ended(tid)
        if self.blocks(tid):
            ended = _ENDED[self._host.state.tasks[tid].status]
            for dep in self._graph.dependents[tid]:
                if dep in self.tasks:
                    self.block(dep, f"needs '{tid}', which {ended}")
        else:
            self.release_dependents(tid)

    def release_dependents(self, tid: str) -> None:
        tasks = self._host.state.tasks
        for dep in self._graph.dependents[tid]:
            if dep in self.tasks and not tasks[dep].status.terminal:
                self.need_met(dep)

    def reopen(self, tid: str, by: str) -> list[str]:
        """`tid` runs again: dependents in this phase blocked only by it (transitively) wait
        for it again."""
        host, reopened = self._host, []
        self.remaining += 1
        work = list(self._graph.dependents[tid])
        while work:
            dep = work.pop()
            d = host.state.tasks[dep]
            if dep not in self.tasks or d.status is not TaskStatus.BLOCKED or dep in reopened:
                continue
            if any(self.blocks(n) for n in self._graph.needs[dep]):
                continue  # another need ended badly: it stays blocked
            host.emit(ev.TaskReset(host.now(), dep, f"waits for '{tid}' again (retry by {by})"))
            self.remaining += 1
            self.waiting[dep] = sum(1 for n in self._graph.needs[dep] if not self.satisfied(n))
            reopened.append(dep)
            work.extend(self._graph.dependents[dep])
        return reopened

    def check_done(self) -> None:
        self.fallbacks.skip_idle()
        cancelled = self._host.state.cancelling and self.attempts.idle()
        if (self.remaining <= 0 or cancelled) and self.under_way:
            assert self._done is not None
            self._done.set_result(None)
