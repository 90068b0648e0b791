"""Taking over a run whose engine died: fold what it recorded, rebuild what the parts decide from
(slots, priorities) from that fold, settle its in-flight attempts (engine/durable/recovery.py),
adopt the ones that outlive it, and say where the run goes on. A part of the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phasegate.engine.exec.adopt import FileTail, files_for
from phasegate.engine.exec.group import same_process
from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import GateStatus, PhaseStatus, TaskStatus

if TYPE_CHECKING:
    from phasegate.engine.exec.executors import Executors
    from phasegate.engine.model.identity import Identity
    from phasegate.engine.model.state import RunState
    from phasegate.engine.plan.model import Plan
    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.attempts import Attempts
    from phasegate.engine.run.gatekeeper import GateKeeper
    from phasegate.engine.run.host import Host
    from phasegate.engine.store.base import RunRow, Store


def rebuild(plan: Plan, state: RunState, sched: Scheduler) -> None:
    """Put into the scheduler what operators changed while the dead engine ran: slots and
    priorities (both are in the fold)."""
    for agent, a in state.agents.items():
        if agent in plan.agents and a.slots != plan.agents[agent].slots:
            sched.set_slots(agent, a.slots)
    for _, task in plan.tasks():
        t = state.tasks.get(task.id)
        if t is not None and t.priority != task.priority:
            sched.reprioritise(task.id, t.priority)


class TakeOver:
    def __init__(
        self,
        host: Host,
        store: Store,
        run_dir: str,
        sched: Scheduler,
        executors: Executors,
        attempts: Attempts,
        keeper: GateKeeper,
    ) -> None:
        self._host, self._store, self._run_dir, self._sched = host, store, run_dir, sched
        self._executors = executors
        self._attempts, self._keeper = attempts, keeper

    async def settle(self, before: RunRow, me: Identity, decisions: dict[str, str]) -> None:
        """The host's state is the dead engine's fold: rebuild the scheduler from it, settle the
        attempts it had in flight, follow the ones that outlive it. `me`: who takes the run over
        (this engine's user), from where."""
        from phasegate.engine.durable.recovery import (  # (psutil: not on every start-up path)
            GRACE,
            take_over,
        )

        user = me.user

        host = self._host
        state = host.state
        rebuild(host.plan, state, self._sched)
        self._keep_lost(before.id)  # (before anything connects to their hosts)
        policies: dict[str, str] = {t.id: t.on_resume for _, t in host.plan.tasks()}
        remote = {
            t.id: agent
            for t in state.tasks.values()
            if t.status is TaskStatus.RUNNING
            and (agent := t.agent or "")
            and self._executors.is_remote(agent)
        }
        # (the plan's, for what the dead engine's tasks left; at most GRACE: the take-over
        # waits for it before the run goes on)
        grace = min(host.plan.kill_grace, GRACE)
        keep = frozenset(t.id for _, t in host.plan.tasks() if t.keep_background)
        entries = await take_over(
            state, before.id, policies, decisions, self._run_dir, set(remote), grace, keep
        )
        for tid, agent in remote.items():  # (on other hosts: their executor settles them)
            policy = policies.get(tid, "rerun")
            action = decisions.get(tid, "rerun") if policy == "ask" else policy
            action = action if action in ("rerun", "adopt", "skip") else "rerun"
            executor: Any = self._executors.for_agent(agent)
            number = state.tasks[tid].attempts
            action, note, lost_on = await executor.settle(before.id, tid, number, action)
            entry: dict[str, object] = {
                "task": tid,
                "attempt": number,
                "action": "skipped" if action == "skip" else action,
                "pids": [],
                "note": note,
            }
            if lost_on:  # (its host out of reach: the fold keeps it lost, as a task's end does)
                entry["lost_on"] = lost_on
            entries.append(entry)
        host.emit(
            ev.RunRecovered(
                host.now(),
                user,
                before.engine_pid,
                # (its last sign of life: its newest event when it came after the heartbeat, which
                # is written every few seconds: what it did since was not time it was down)
                state.last_seen(before.heartbeat_at),
                entries,
                me.uid,
                me.host,
                me.tty,
                me.ssh,
            )
        )
        for p in list(state.permissions.values()):
            if p.status == "open":  # asked in the dead engine's talk with its CLI: that is gone
                why = "the engine stopped before an answer"
                host.emit(ev.PermissionAnswered(host.now(), p.id, False, "engine", -1, why))
        for entry in entries:
            t = state.tasks[str(entry["task"])]  # (run.recovered keeps `stopping`)
            if t.stopping and entry["action"] != "adopted":
                # an operator was stopping it when the engine died: it ends as she asked
                if t.stopping == TaskStatus.SKIPPED:
                    host.emit(ev.TaskSkipped(host.now(), t.id, t.stop_reason))
                else:
                    end = ev.TaskFinished(
                        host.now(), t.id, t.attempts, t.stopping, None, reason=t.stop_reason
                    )
                    host.emit(end)
        await self._adopt(entries)

    def _keep_lost(self, run_id: str) -> None:
        """The attempts the dead engine gave up with their connection to a host (the fold keeps
        them): their process may run on there, so that host's executor stops them when it next
        connects, before it runs anything (a retry never runs beside its lost attempt)."""
        plan, state = self._host.plan, self._host.state
        tasks = {t.id: t for _, t in plan.tasks()}
        for t in state.tasks.values():
            for lost in t.lost:
                executor: Any = self._executors.at("ssh", lost.host)
                if executor is None:  # (no agent of the plan runs there any more)
                    continue
                keep = t.id in tasks and tasks[t.id].keep_background
                executor.lost.keep(run_id, t.id, lost.attempt, lost.pgid, plan.kill_grace, keep)

    async def _adopt(self, entries: list[dict[str, object]]) -> None:
        """Follow the attempts the dead engine left running: their end comes from their pidfd
        and status file, their output from their files, from the lines already stored."""
        for entry in entries:
            if entry["action"] != "adopted":
                continue
            tid, number = str(entry["task"]), int(str(entry["attempt"]))
            state = self._host.state
            t = state.tasks[tid]
            agent = t.agent or next(iter(self._sched.candidates[tid]), "")
            stored = await self._store.read_output(state.run_id, tid, number)
            if self._executors.is_remote(agent):
                self._follow_remote(tid, number, agent, stored)
                continue
            files = files_for(self._run_dir, tid, number)
            tail = FileTail(
                files,
                sum(1 for line in stored if line.stream == "out"),
                sum(1 for line in stored if line.stream == "err"),
            )
            lines = max((line.line for line in stored), default=0)
            attempt = self._attempts.adopt(tid, number, agent, tail, lines)
            adopting = self._executors.local  # (this machine's: a remote one follows its own)
            keep = attempt.task.keep_background  # (the attempt has its plan entry)
            # (its pid only while it is the attempt's process: one that ended may name another)
            lives = number == t.attempts and same_process(t.pid, t.proc_started)
            attempt.handle = adopting.adopt(
                t.pid if lives else None,
                files,
                self._attempts.finished(attempt),
                (state.run_id, tid, keep),
            )
            if t.stopping:  # an operator was stopping it when the engine died: stop it again
                self._attempts.stop(tid, self._host.plan.kill_grace)

    def _follow_remote(self, tid: str, number: int, agent: str, stored: list[Any]) -> None:
        """An attempt on another host: its output and end read there by its executor."""
        lines = max((line.line for line in stored), default=0)
        attempt = self._attempts.adopt(tid, number, agent, None, lines)
        executor: Any = self._executors.for_agent(agent)
        skip = (
            sum(1 for line in stored if line.stream == "out"),
            sum(1 for line in stored if line.stream == "err"),
        )
        attempt.handle = executor.follow(
            self._host.state.run_id,
            tid,
            number,
            skip,
            lambda stream, text: self._attempts.show(attempt, stream, text),
            self._attempts.finished(attempt),
            self._attempts.outputs(attempt.task),
        )
        if self._host.state.tasks[tid].stopping:
            self._attempts.stop(tid, self._host.plan.kill_grace)

    def first_open_phase(self) -> int:
        """Where a resumed run goes on: the first phase not finished with its gates passed."""
        plan, state = self._host.plan, self._host.state
        for index, phase in enumerate(plan.phases):
            ps = state.phases.get(phase.id)
            if ps is None or ps.status is not PhaseStatus.SUCCEEDED:
                return index
            gates = self._keeper.after(phase.id)
            if any(state.gates[g.id].status is not GateStatus.PASSED for g in gates):
                return index
        return len(plan.phases)
