"""Operator commands on a live run (pause, resume, priority, slots, retry, skip, cancel a task,
note): a part of the run, dispatched on the command's type. Every action is an event naming who
did it, so the fold (and a take-over) knows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.refusals import TaskAction, task_refusal
from phasegate.engine.model.statuses import RunStatus, TaskStatus

if TYPE_CHECKING:
    from phasegate.engine.plan.dag import Graph
    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.attempts import Attempts
    from phasegate.engine.run.host import Host
    from phasegate.engine.run.progress import Progress

Answer = tuple[bool, str]  # (done, what happened or why it was refused)


def unrun_end(host: Host, tid: str, status: str, reason: str) -> ev.TaskFinished:
    """The end of a task that does not run now (it waits for its turn, or for a retry), as
    attempt 0: no attempt of it ran, so none is rewritten. Its last attempt, if any, keeps its
    end, its exit code and its time, which the task shows on."""
    t = host.state.tasks[tid]
    return ev.TaskFinished(
        host.now(), tid, 0, status, t.exit_code, reason=reason, ended_at=t.finished_at
    )


class OperatorControl:
    def __init__(
        self,
        host: Host,
        graph: Graph,
        sched: Scheduler,
        attempts: Attempts,
        progress: Progress,
    ) -> None:
        self._host, self._graph, self._sched = host, graph, sched
        self._attempts, self._progress = attempts, progress
        self._handlers: dict[type[Any], Callable[[Any, str], Answer]] = {
            cmd.Note: self._note,
            cmd.Pause: self._pause,
            cmd.Resume: self._resume,
            cmd.Priority: self._priority,
            cmd.Slots: self._slots,
            cmd.Retry: self._retry,
            cmd.Skip: lambda c, by: self._stop(c.task, TaskStatus.SKIPPED, c.reason, by),
            cmd.CancelTask: lambda c, by: self._stop(c.task, TaskStatus.CANCELLED, c.reason, by),
        }

    def handle(self, command: cmd.Command, by: str) -> Answer:
        """Carry out an operator's command, or say why not."""
        handler = self._handlers.get(type(command))
        if handler is None:
            return False, f"'{command.kind.value}' is not an operator command"
        return handler(command, by)

    def _note(self, c: cmd.Note, by: str) -> Answer:
        self._host.emit(ev.RunNoted(self._host.now(), c.text.strip(), by))
        return True, "noted"

    def _pause(self, c: cmd.Pause, by: str) -> Answer:
        host = self._host
        if c.phase:
            return self._hold_phase(c.phase, True, c.reason, by)
        if host.state.status is RunStatus.PAUSED:
            return False, "the run is paused already"
        host.emit(ev.RunPaused(host.now(), by, c.reason, ask=c.ask))
        return True, "paused: running tasks finish, no new task starts"

    def _resume(self, c: cmd.Resume, by: str) -> Answer:
        host = self._host
        if c.phase:
            return self._hold_phase(c.phase, False, "", by)
        if host.state.status is not RunStatus.PAUSED:
            return False, "the run is not paused"
        host.emit(ev.RunResumed(host.now(), by))
        host.dispatch()
        self._progress.check_done()
        return True, "resumed"

    def _priority(self, c: cmd.Priority, by: str) -> Answer:
        why = task_refusal(self._host.state, "priority", c.task)
        if why is not None:
            return False, why
        self._sched.reprioritise(c.task, c.priority)
        self._host.emit(ev.TaskReprioritised(self._host.now(), c.task, c.priority, by))
        return True, f"task '{c.task}' has priority {c.priority}"

    def _slots(self, c: cmd.Slots, by: str) -> Answer:
        agents = self._host.state.agents
        if c.agent not in agents:
            return False, f"no agent '{c.agent}'; agents: {', '.join(sorted(agents))}"
        self._sched.set_slots(c.agent, c.slots)
        self._host.emit(ev.AgentSlotsChanged(self._host.now(), c.agent, c.slots, by))
        self._host.dispatch()
        return True, f"agent '{c.agent}' has {c.slots} slots"

    def _stop(self, tid: str, status: TaskStatus, reason: str, by: str) -> Answer:
        host = self._host
        verb: TaskAction = "skip" if status is TaskStatus.SKIPPED else "cancel"
        reason = reason or f"{verb} by {by}"
        why = task_refusal(host.state, verb, tid)
        if why is not None:
            return False, why
        if self._attempts.running_now(tid):
            host.emit(ev.TaskStopping(host.now(), tid, status.value, reason, by))
            self._attempts.stop(tid, host.plan.kill_grace)
            return True, f"task '{tid}' is being stopped; it will be {status.value}"
        self._sched.drop(tid)
        self._attempts.forget(tid)
        if status is TaskStatus.SKIPPED:
            host.emit(ev.TaskSkipped(host.now(), tid, reason, by))
        else:
            host.emit(unrun_end(host, tid, status.value, reason))
        if tid in self._progress.tasks:
            self._progress.settled(tid)
            host.dispatch()
            self._progress.check_done()
        return True, f"task '{tid}' {status.value}"

    def _hold_phase(self, phase: str, hold: bool, reason: str, by: str) -> Answer:
        """Pause one phase (none of its tasks starts; a later one waits when it comes), or
        resume it."""
        host = self._host
        ps = host.state.phases.get(phase)
        if ps is None:
            return False, f"no phase '{phase}'; phases: {', '.join(host.state.phases)}"
        if ps.status.ended:
            return False, f"phase '{phase}' has ended ({ps.status.value})"
        if hold == ps.held:
            return False, f"phase '{phase}' is paused already" if hold else (
                f"phase '{phase}' is not paused"
            )
        if hold:
            host.emit(ev.RunPaused(host.now(), by, reason, phase))
            return True, f"phase '{phase}' paused: none of its tasks starts until resumed"
        host.emit(ev.RunResumed(host.now(), by, phase))
        host.dispatch()
        self._progress.check_done()
        return True, f"phase '{phase}' resumed"

    def _retry(self, c: cmd.Retry, by: str) -> Answer:
        """Run a task that ended badly again, as a new attempt, while its phase runs; the
        dependents it blocked wait for it again."""
        host, progress, tid = self._host, self._progress, c.task
        why = task_refusal(host.state, "retry", tid)
        if why is not None:
            return False, why
        t = host.state.tasks[tid]
        if tid not in progress.tasks or not progress.under_way:  # (its phase at its end)
            return False, f"task '{tid}' is in phase '{t.phase}', which is not running now"
        unmet = [n for n in self._graph.needs[tid] if not progress.satisfied(n)]
        if unmet:
            return False, f"task '{tid}' needs {', '.join(unmet)}: retry that first"
        number = t.attempts + 1
        host.emit(ev.TaskRetrying(host.now(), tid, number, 0.0, f"retry asked by {by}"))
        reopened = progress.reopen(tid, by)
        self._sched.push(tid)
        host.dispatch()
        more = f"; {len(reopened)} blocked task(s) wait for it again" if reopened else ""
        if host.state.status.value == "paused":  # (nothing starts until the run resumes)
            return True, f"task '{tid}' runs again as attempt {number} once the run resumes{more}"
        return True, f"task '{tid}' runs again as attempt {number}{more}"
