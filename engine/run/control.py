"""Operator commands on a live run (skip, cancel a task, pause, resume, note): the part of the
runner that front ends steer through the commands inbox."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from engine.model import events as ev
from engine.model.state import BAD

if TYPE_CHECKING:
    from engine.model.state import RunState
    from engine.plan.dag import Graph
    from engine.plan.model import Plan
    from engine.plan.scheduler import Scheduler
    from engine.run.attempts import _Attempt


RETRYABLE = frozenset(s.value for s in BAD)  # a task that ended badly can run again


class OperatorControl:
    """Mixed into the Runner; every action is an event naming who did it."""

    # provided by the Runner
    plan: Plan
    state: RunState
    _paused: bool
    _running: dict[str, _Attempt]
    _stopping: dict[str, str]
    _stop_reason: dict[str, str]
    _sched: Scheduler
    _retry_timers: dict[str, asyncio.TimerHandle]
    _phase_tasks: set[str]
    _phase_done: asyncio.Future[None] | None
    _graph: Graph
    _remaining: int
    _waiting: dict[str, int]

    def _satisfied(self, tid: str) -> bool:
        raise NotImplementedError

    def _blocks(self, tid: str) -> bool:
        raise NotImplementedError

    def emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def _dispatch(self) -> None:
        raise NotImplementedError

    def _check_phase_done(self) -> None:
        raise NotImplementedError

    def _settled(self, tid: str) -> None:
        raise NotImplementedError

    def control(self, kind: str, args: dict[str, object], by: str) -> tuple[bool, str]:
        """An operator's command: (done, what happened or why it was refused)."""
        task = str(args.get("task") or "")
        reason = str(args.get("reason") or "")
        if kind == "note":
            text = str(args.get("text") or "").strip()
            if not text:
                return False, "a note needs text"
            self.emit(ev.RunNoted(self.now(), text, by))
            return True, "noted"
        phase = str(args.get("phase") or "")
        if kind in ("pause", "resume") and phase:
            return self._hold_phase(phase, kind == "pause", reason, by)
        if kind == "pause":
            if self._paused:
                return False, "the run is paused already"
            self._paused = True
            self.emit(ev.RunPaused(self.now(), by, reason, ask=str(args.get("ask") or "")))
            return True, "paused: running tasks finish, no new task starts"
        if kind == "resume":
            if not self._paused:
                return False, "the run is not paused"
            self._paused = False
            self.emit(ev.RunResumed(self.now(), by))
            self._dispatch()
            self._check_phase_done()
            return True, "resumed"
        if kind == "priority":
            if task not in self.state.tasks:
                return False, f"this run has no task '{task}'"
            if self.state.tasks[task].status.terminal:
                return False, f"task '{task}' has ended already"
            value = _int(args.get("priority"))
            if value is None:
                return False, "the priority must be a whole number"
            self._sched.reprioritise(task, value)
            self.emit(ev.TaskReprioritised(self.now(), task, value, by))
            return True, f"task '{task}' has priority {value}"
        if kind == "slots":
            agent = str(args.get("agent") or "")
            value = _int(args.get("slots"))
            if agent not in self.state.agents:
                return False, f"no agent '{agent}'; agents: {', '.join(sorted(self.state.agents))}"
            if value is None or value < 1:
                return False, "slots must be a whole number of 1 or more"
            self._sched.set_slots(agent, value)
            self.emit(ev.AgentSlotsChanged(self.now(), agent, value, by))
            self._dispatch()
            return True, f"agent '{agent}' has {value} slots"
        if kind == "retry":
            return self._retry_task(task, by)
        if kind in ("skip", "cancel_task"):
            return self._stop_task(
                task,
                "skipped" if kind == "skip" else "cancelled",
                reason or f"{kind.replace('_task', '')} by {by}",
                by,
            )
        return False, f"unknown command '{kind}'"

    def _stop_task(self, tid: str, status: str, reason: str, by: str) -> tuple[bool, str]:
        t = self.state.tasks.get(tid)
        if t is None:
            known = ", ".join(sorted(self.state.tasks)[:20])
            return False, f"this run has no task '{tid}'; its tasks: {known}"
        if t.status.terminal:
            return False, f"task '{tid}' has ended already ({t.status.value})"
        running = self._running.get(tid)
        if running is not None and running.handle is not None:
            self._stopping[tid] = status
            self._stop_reason[tid] = reason
            running.handle.terminate(self.plan.kill_grace)
            return True, f"task '{tid}' is being stopped; it will be {status}"
        self._sched.drop(tid)
        timer = self._retry_timers.pop(tid, None)
        if timer is not None:
            timer.cancel()
        if status == "skipped":
            self.emit(ev.TaskSkipped(self.now(), tid, reason, by))
        else:
            self.emit(
                ev.TaskFinished(self.now(), tid, t.attempts, "cancelled", None, reason=reason)
            )
        if tid in self._phase_tasks:
            self._settled(tid)
            self._dispatch()
            self._check_phase_done()
        return True, f"task '{tid}' {status}"

    def _hold_phase(self, phase: str, hold: bool, reason: str, by: str) -> tuple[bool, str]:
        """Pause one phase (none of its tasks starts; a later one waits when it comes), or
        resume it."""
        ps = self.state.phases.get(phase)
        if ps is None:
            return False, f"no phase '{phase}'; phases: {', '.join(self.state.phases)}"
        if ps.status in ("succeeded", "failed", "cancelled"):
            return False, f"phase '{phase}' has ended ({ps.status})"
        if hold == ps.held:
            return False, f"phase '{phase}' is {'paused' if hold else 'not paused'} already"
        if hold:
            self.emit(ev.RunPaused(self.now(), by, reason, phase))
            return True, f"phase '{phase}' paused: none of its tasks starts until resumed"
        self.emit(ev.RunResumed(self.now(), by, phase))
        self._dispatch()
        self._check_phase_done()
        return True, f"phase '{phase}' resumed"

    def _retry_task(self, tid: str, by: str) -> tuple[bool, str]:
        """Run a task that ended badly again, as a new attempt, while its phase runs; the
        dependents it blocked wait for it again."""
        t = self.state.tasks.get(tid)
        if t is None:
            return False, f"this run has no task '{tid}'"
        if t.status.value not in RETRYABLE:
            return False, (
                f"task '{tid}' is {t.status.value}: only a failed, timed-out, cancelled or "
                "blocked task can run again"
            )
        phase_done = self._phase_done is None or self._phase_done.done()
        if tid not in self._phase_tasks or phase_done:
            return False, f"task '{tid}' is in phase '{t.phase}', which is not running now"
        unmet = [n for n in self._graph.needs[tid] if not self._satisfied(n)]
        if unmet:
            return False, f"task '{tid}' needs {', '.join(unmet)}: retry that first"
        number = t.attempts + 1
        self.emit(ev.TaskRetrying(self.now(), tid, number, 0.0, f"retry asked by {by}"))
        self._remaining += 1
        reopened = self._reopen(tid, by)
        self._sched.push(tid)
        self._dispatch()
        more = f"; {len(reopened)} blocked task(s) wait for it again" if reopened else ""
        return True, f"task '{tid}' runs again as attempt {number}{more}"

    def _reopen(self, tid: str, by: str) -> list[str]:
        """Dependents in this phase blocked only by `tid` (transitively) wait again."""
        reopened: list[str] = []
        work = list(self._graph.dependents[tid])
        while work:
            dep = work.pop()
            d = self.state.tasks[dep]
            if dep not in self._phase_tasks or d.status.value != "blocked" or dep in reopened:
                continue
            if any(self._blocks(n) for n in self._graph.needs[dep]):
                continue  # another need ended badly: it stays blocked
            self.emit(ev.TaskReset(self.now(), dep, f"waits for '{tid}' again (retry by {by})"))
            self._remaining += 1
            self._waiting[dep] = sum(1 for n in self._graph.needs[dep] if not self._satisfied(n))
            reopened.append(dep)
            work.extend(self._graph.dependents[dep])
        return reopened


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
