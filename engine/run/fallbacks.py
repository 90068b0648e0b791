"""Fallback tasks: a part of the run.

`on_failure: {fallback: F}`: F stands by and runs only when its task fails for good (or is
blocked); the task's dependents then wait for F and go on if it succeeds. When the task
succeeds or an operator skips it, F is skipped (its dependents go on); when an operator cancels
it, F is skipped too and its dependents are blocked (a cancel is no failure to stand in for).

`risks.actions: {RULE: {fallback: F}}`: F stands by until a RULE risk is raised, then runs (as
soon as its phase is under way and its needs are met). When everything else of its phase has
ended and the rule has not fired, F is skipped. Nothing may need F (plan check)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import BAD, TaskStatus
from phasegate.engine.plan.fallbacks import fallbacks, risk_fallbacks

if TYPE_CHECKING:
    from phasegate.engine.plan.dag import Graph
    from phasegate.engine.run.host import Host
    from phasegate.engine.run.progress import Progress


class Fallbacks:
    """Which tasks stand by, for whom, and when they run or are skipped. Whether a rule's
    fallback was called for is in the fold (`fallback.called`)."""

    def __init__(self, host: Host, graph: Graph, progress: Progress) -> None:
        self._host, self._graph, self._progress = host, graph, progress
        self._fallback = fallbacks(host.plan)  # task -> its fallback
        self._standby = {fb: tid for tid, fb in self._fallback.items()}  # fallback -> task
        self._on_risk = risk_fallbacks(host.plan)  # task -> the rule whose risk makes it run

    def _called(self, tid: str) -> bool:
        return self._host.state.tasks[tid].called

    def rescued(self, tid: str) -> bool:
        """Did the fallback of a task that failed succeed in its place?"""
        fb = self._fallback.get(tid)
        return fb is not None and self._host.state.tasks[fb].status is TaskStatus.SUCCEEDED

    def rescue_failed(self, tid: str) -> bool:
        fb = self._fallback.get(tid)
        if fb is None:
            return False
        status = self._host.state.tasks[fb].status
        return status.terminal and status is not TaskStatus.SUCCEEDED

    def skip_unneeded(self, ids: list[str]) -> None:
        """As a phase starts (again, after a take-over): a fallback whose task succeeded
        already is skipped, before anything counts what it waits for."""
        host = self._host
        for fb in ids:
            task = self._standby.get(fb)
            if task is not None and not host.state.tasks[fb].status.terminal:
                why = _not_needed(task, host.state.tasks[task].status)
                if why:
                    host.emit(ev.TaskSkipped(host.now(), fb, why))

    def stand_by(self, tid: str) -> None:
        """As its phase starts, a fallback waits for its task to fail (on top of its own
        needs), or for its rule to fire."""
        task = self._standby.get(tid)
        if task is not None and self._host.state.tasks[task].status not in BAD:
            self._progress.waiting[tid] += 1
        if self._idle(tid):
            self._progress.waiting[tid] += 1  # until its rule fires

    def fail_over(self, tid: str) -> bool:
        """`tid` ended (or was blocked): wake or skip its fallback. True when its dependents
        wait for the fallback instead of going on or being blocked now."""
        host, progress = self._host, self._progress
        fb = self._fallback.get(tid)
        if fb is None or fb not in progress.tasks or host.state.tasks[fb].status.terminal:
            return False
        status = host.state.tasks[tid].status
        why = _not_needed(tid, status)
        if not why and status in BAD:
            progress.need_met(fb)
            return True
        host.emit(ev.TaskSkipped(host.now(), fb, why or f"not needed: '{tid}' {status.value}"))
        progress.settled(fb)
        return False

    def ended(self, fb: str) -> None:
        """A task ended: if it was a fallback, the dependents of the task it stood in for go on,
        or are blocked."""
        task = self._standby.get(fb)
        state = self._host.state
        if task is None or state.tasks[task].status not in BAD:
            return
        if state.tasks[fb].status is TaskStatus.SUCCEEDED:
            self._progress.release_dependents(task)
            return
        why = (
            f"needs '{task}', which was cancelled"
            if state.tasks[task].status is TaskStatus.CANCELLED
            else f"needs '{task}', which failed, and its fallback '{fb}' too"
        )
        for dep in self._graph.dependents[task]:
            if dep in self._progress.tasks:
                self._progress.block(dep, why)

    # -- a risk rule's fallback ---------------------------------------------------------------

    def standing_by(self) -> set[str]:
        """Fallbacks not called for (yet): the forecast leaves them out."""
        state = self._host.state
        waiting = {t for t in self._on_risk if not self._called(t)}
        for task, fb in self._fallback.items():
            if state.tasks[task].status not in BAD:
                waiting.add(fb)
        return {t for t in waiting if not state.tasks[t].status.terminal}

    def _idle(self, tid: str) -> bool:
        """Does this task stand by for a rule that has not fired?"""
        return tid in self._on_risk and not self._called(tid)

    def call(self, tid: str, rule: str) -> tuple[bool, str]:
        """A rule fired: its fallback runs (now, or when its phase comes)."""
        host, progress = self._host, self._progress
        state = host.state.tasks[tid]
        if state.called or state.status.terminal:
            return False, f"fallback '{tid}' was called already or its phase has ended"
        host.emit(ev.FallbackCalled(host.now(), tid, rule))
        if tid not in progress.tasks or not progress.under_way:
            return True, f"fallback '{tid}' runs when its phase '{state.phase}' starts"
        progress.need_met(tid)
        if progress.waiting[tid] == 0:
            host.dispatch()
            if host.state.tasks[tid].status is TaskStatus.RUNNING:
                return True, f"fallback '{tid}' started ({rule})"
            return True, f"fallback '{tid}' is ready: it starts when a slot is free ({rule})"
        return True, f"fallback '{tid}' runs once its needs are met ({rule})"

    def skip_idle(self) -> None:
        """Everything else of the phase has ended: fallbacks whose rule never fired are
        skipped, so that the phase can end."""
        progress = self._progress
        if not self._on_risk or progress.remaining > len(self._on_risk):
            return  # (cheap: this runs whenever a task ends)
        state = self._host.state
        idle = [
            t
            for t in self._on_risk
            if t in progress.tasks and self._idle(t) and not state.tasks[t].status.terminal
        ]
        if not idle or len(idle) != progress.remaining:
            return
        for tid in sorted(idle):
            rule = self._on_risk[tid]
            why = f"not needed: no {rule} risk was raised"
            self._host.emit(ev.TaskSkipped(self._host.now(), tid, why))
            progress.settled(tid)


def _not_needed(task: str, status: TaskStatus) -> str:
    """Why a fallback is skipped now that its task has this status ("" while it may run)."""
    if status is TaskStatus.SUCCEEDED:
        return f"not needed: '{task}' succeeded"
    if status is TaskStatus.SKIPPED:
        return f"not needed: '{task}' was skipped"
    if status is TaskStatus.CANCELLED:
        return f"not run: '{task}' was cancelled, not failed"
    return ""
