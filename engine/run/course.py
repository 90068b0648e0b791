"""The run's course: its phases in order, each with its entry checks, its tasks (through
Progress) and the gates after it; a gate's rejection rewinds the run to the phase its rule
names, a failed phase or gate blocks what is left, and a cancel ends it. A part of the runner
(engine/run/loop.py), which holds the run and its other parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import BAD, PhaseStatus, RunStatus, TaskStatus
from phasegate.engine.run.control import unrun_end

if TYPE_CHECKING:
    from phasegate.engine.run.loop import Runner


class Course:
    def __init__(self, runner: Runner) -> None:
        self._r = runner

    async def run(self) -> tuple[str, str]:
        """Phase after phase, each with its entry checks, its tasks and the gates after it, a
        rejected gate rewinding the run where its rule says: (the run's status, why)."""
        r = self._r
        failed = r._ready.checks("plan", r.plan.checks)
        if failed:
            self._block_from(0, f"plan check failed: {failed}")
            return RunStatus.FAILED, f"plan check failed: {failed}"
        if not r.state.cancelling:
            await r._ready.probe_agents()
        index = r._takeover.first_open_phase() if r._resume is not None else 0
        if r.plan.research and not r.state.research and not r.state.cancelling:
            await r._ready.research(r.store)
        # taken over at a gate: its phase has ended (succeeded), only its gates are left
        at_gate = r._resume is not None and index < len(r.plan.phases)
        at_gate = at_gate and r.state.phases[r.plan.phases[index].id].status is (
            PhaseStatus.SUCCEEDED
        )
        while index < len(r.plan.phases):
            phase = r.plan.phases[index]
            if r.state.cancelling:
                break
            if not at_gate:
                failed = r._ready.checks(phase.id, phase.checks)
                if r.state.phases[phase.id].status is not PhaseStatus.RUNNING:  # (resumed)
                    r.emit(ev.PhaseStarted(r.now(), phase.id))
                if failed:
                    reason = f"entry check of phase '{phase.id}' failed: {failed}"
                    self._block_from(index, reason)
                    r.emit(ev.PhaseFinished(r.now(), phase.id, "failed"))
                    return RunStatus.FAILED, reason
                await r._progress.run([t.id for t in phase.tasks])
                phase = next(p for p in r.plan.phases if p.id == phase.id)  # (amended since)
                status = self._phase_status([t.id for t in phase.tasks])
                r.emit(ev.PhaseFinished(r.now(), phase.id, status))
                if status == "failed":
                    self._block_from(index + 1, f"phase '{phase.id}' failed")
                    spent = r._budgets.stopped([t.id for t in phase.tasks])
                    return RunStatus.FAILED, f"phase '{phase.id}' failed" + (
                        f": {spent}" if spent else ""
                    )
            at_gate = False  # (a rewind to it later runs it again)
            rewind, reason = await self._gates_after(phase.id)
            if reason and rewind is None:
                self._block_from(index + 1, reason)
                return RunStatus.FAILED, reason
            index = rewind if rewind is not None else index + 1
        cancelled = r.state.cancelling
        if cancelled:
            for tid, t in r.state.tasks.items():
                if t.status is TaskStatus.RUNNING:  # (its attempt ends here)
                    why = cancelled
                    r.emit(ev.TaskFinished(r.now(), tid, t.attempts, "cancelled", None, reason=why))
                elif not t.status.terminal:  # (waiting: for its turn, or for a retry)
                    r.emit(unrun_end(r, tid, "cancelled", cancelled))
            return RunStatus.CANCELLED, cancelled
        return RunStatus.SUCCEEDED, ""

    def dispatch(self) -> None:
        """Start what is ready, unless the run or the phase under way is paused (`--phase`)."""
        r = self._r
        state = r.state
        if state.cancelling or state.status is RunStatus.PAUSED:
            return
        for p in state.phases.values():
            if p.status is PhaseStatus.RUNNING and p.held:
                return
        for tid, agent in r._sched.take():
            r._attempts.start(tid, agent)

    async def _gates_after(self, phase: str) -> tuple[int | None, str]:
        """Run the gates after a phase: (phase index to rewind to, or None; why the run stops)."""
        r = self._r
        for gate in r._keeper.after(phase):
            if r.state.cancelling:
                return None, ""
            outcome, reason = await r._keeper.run(gate)
            if outcome == "passed" or r.state.cancelling:
                continue
            rule = gate.on_reject
            if outcome == "rejected" and rule is not None and rule.rewind_to is not None:
                if r._keeper.attempts(gate.id) < rule.max_attempts:
                    r.emit(ev.PhaseRewound(r.now(), rule.rewind_to, gate.id, reason))
                    ids = [p.id for p in r.plan.phases]
                    return ids.index(rule.rewind_to), ""
                reason += f" (after {rule.max_attempts} attempts)"
            return None, f"gate '{gate.id}' {outcome}: {reason}"
        return None, ""

    def _block_from(self, phase_index: int, reason: str) -> None:
        r = self._r
        for phase in r.plan.phases[phase_index:]:
            for task in phase.tasks:
                if not r.state.tasks[task.id].status.terminal:
                    r.emit(ev.TaskBlocked(r.now(), task.id, reason))

    def _phase_status(self, ids: list[str]) -> str:
        r = self._r
        if r.state.cancelling:
            return "cancelled"
        for tid in ids:
            if r.state.tasks[tid].status in BAD and r._tasks[tid].on_failure == "fail":
                return "failed"
        return "succeeded"
