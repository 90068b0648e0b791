"""Fallback tasks, mixed into the Runner.

`on_failure: {fallback: F}`: F stands by and runs only when its task fails for good (or is
blocked); the task's dependents then wait for F and go on if it succeeds. When the task
succeeds, F is skipped.

`risks.actions: {RULE: {fallback: F}}`: F stands by until a RULE risk is raised, then runs (as
soon as its phase is under way and its needs are met). When everything else of its phase has
ended and the rule has not fired, F is skipped. Nothing may need F (plan check)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.model import events as ev
from engine.model.state import BAD, TaskStatus
from engine.plan.model import OnFailureFallback, Plan, RuleFallback

if TYPE_CHECKING:
    from engine.model.state import RunState
    from engine.plan.dag import Graph


def risk_fallbacks(plan: Plan) -> dict[str, str]:
    """task -> the rule whose risk makes it run."""
    return {
        action.fallback: rule
        for rule, action in plan.risks.actions.items()
        if isinstance(action, RuleFallback)
    }


def fallbacks(plan: Plan) -> dict[str, str]:
    """task -> the task that stands in for it if it fails."""
    return {
        t.id: t.on_failure.fallback
        for _, t in plan.tasks()
        if isinstance(t.on_failure, OnFailureFallback)
    }


class Fallbacks:
    # provided by the Runner
    state: RunState
    _graph: Graph
    _fallback: dict[str, str]  # task -> its fallback
    _standby: dict[str, str]  # fallback -> the task it stands in for
    _phase_tasks: set[str]
    _waiting: dict[str, int]
    _remaining: int
    _on_risk: dict[str, str]  # task -> the rule whose risk makes it run
    _called: set[str]  # tasks of _on_risk whose rule fired

    def _dispatch(self) -> None:
        raise NotImplementedError

    def emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def _make_ready(self, tid: str) -> None:
        raise NotImplementedError

    def _release_dependents(self, tid: str) -> None:
        raise NotImplementedError

    def _block(self, tid: str, reason: str) -> None:
        raise NotImplementedError

    def _settled(self, tid: str) -> None:
        raise NotImplementedError

    def _rescued(self, tid: str) -> bool:
        """Did the fallback of a task that failed succeed in its place?"""
        fb = self._fallback.get(tid)
        return fb is not None and self.state.tasks[fb].status is TaskStatus.SUCCEEDED

    def _rescue_failed(self, tid: str) -> bool:
        fb = self._fallback.get(tid)
        if fb is None:
            return False
        status = self.state.tasks[fb].status
        return status.terminal and status is not TaskStatus.SUCCEEDED

    def _skip_unneeded(self, ids: list[str]) -> None:
        """As a phase starts (again, after a take-over): a fallback whose task succeeded
        already is skipped, before anything counts what it waits for."""
        for fb in ids:
            task = self._standby.get(fb)
            if task is not None:
                status = self.state.tasks[task].status
                if status is TaskStatus.SUCCEEDED or status is TaskStatus.SKIPPED:
                    self.emit(ev.TaskSkipped(self.now(), fb, f"not needed: '{task}' succeeded"))

    def _stand_by(self, fb: str) -> None:
        """A fallback waits for its task to fail, on top of its own needs."""
        if self.state.tasks[self._standby[fb]].status not in BAD:
            self._waiting[fb] += 1

    def _not_needed(self, fb: str) -> None:
        task = self._standby[fb]
        self.emit(ev.TaskSkipped(self.now(), fb, f"not needed: '{task}' succeeded"))
        self._settled(fb)

    def _fail_over(self, tid: str) -> bool:
        """`tid` ended (or was blocked): wake or skip its fallback. True when its dependents
        wait for the fallback instead of going on or being blocked now."""
        fb = self._fallback.get(tid)
        if fb is None or fb not in self._phase_tasks or self.state.tasks[fb].status.terminal:
            return False
        if self.state.tasks[tid].status in BAD:
            self._waiting[fb] -= 1
            if self._waiting[fb] == 0:
                self._make_ready(fb)
            return True
        self._not_needed(fb)
        return False

    def _fallback_ended(self, fb: str) -> None:
        """A fallback ended: the dependents of the task it stood in for go on, or are blocked."""
        task = self._standby.get(fb)
        if task is None or self.state.tasks[task].status not in BAD:
            return
        if self.state.tasks[fb].status is TaskStatus.SUCCEEDED:
            self._release_dependents(task)
            return
        for dep in self._graph.dependents[task]:
            if dep in self._phase_tasks:
                self._block(dep, f"needs '{task}', which failed, and its fallback '{fb}' too")

    # -- a risk rule's fallback ---------------------------------------------------------------

    def _standing_by(self) -> set[str]:
        """Fallbacks not called for (yet): the forecast leaves them out."""
        waiting = {t for t in self._on_risk if t not in self._called}
        for task, fb in self._fallback.items():
            if self.state.tasks[task].status not in BAD:
                waiting.add(fb)
        return {t for t in waiting if not self.state.tasks[t].status.terminal}

    def _idle(self, tid: str) -> bool:
        """Does this task stand by for a rule that has not fired?"""
        return tid in self._on_risk and tid not in self._called

    def _call_fallback(self, tid: str, rule: str) -> tuple[bool, str]:
        """A rule fired: its fallback runs (now, or when its phase comes)."""
        state = self.state.tasks[tid]
        if tid in self._called or state.status.terminal:
            return False, f"fallback '{tid}' was called already or its phase has ended"
        self._called.add(tid)
        if tid not in self._phase_tasks:
            return True, f"fallback '{tid}' runs when its phase '{state.phase}' starts"
        self._waiting[tid] -= 1
        if self._waiting[tid] == 0:
            self._make_ready(tid)
            self._dispatch()
            if self.state.tasks[tid].status is TaskStatus.RUNNING:
                return True, f"fallback '{tid}' started ({rule})"
            return True, f"fallback '{tid}' is ready: it starts when a slot is free ({rule})"
        return True, f"fallback '{tid}' runs once its needs are met ({rule})"

    def _skip_idle(self) -> None:
        """Everything else of the phase has ended: fallbacks whose rule never fired are
        skipped, so that the phase can end."""
        if not self._on_risk or self._remaining > len(self._on_risk):
            return  # (cheap: this runs whenever a task ends)
        idle = [
            t
            for t in self._on_risk
            if t in self._phase_tasks and self._idle(t) and not self.state.tasks[t].status.terminal
        ]
        if not idle or len(idle) != self._remaining:
            return
        for tid in sorted(idle):
            rule = self._on_risk[tid]
            self.emit(ev.TaskSkipped(self.now(), tid, f"not needed: no {rule} risk was raised"))
            self._settled(tid)
