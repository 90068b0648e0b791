"""The run loop: starts tasks as their dependencies, agents and resources allow, and emits events.

It owns no state of its own: every fact is an event, folded into `self.state` by the same
`apply` the front ends use, and appended to the store in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence

from engine.exec.local import (
    Executor,
    LocalExecutor,
    process_start_time,
    run_capture,
    same_process,
)
from engine.model import events as ev
from engine.model.identity import current_identity
from engine.model.snapshot import SNAPSHOT_EVERY, snapshot_format
from engine.model.snapshot import dump as dump_state
from engine.model.state import BAD, RunState, RunStatus, TaskStatus, apply
from engine.plan.dag import build
from engine.plan.model import Plan, Task
from engine.plan.scheduler import Scheduler
from engine.plan.template import substitute
from engine.run.attempts import Attempts, _Attempt
from engine.run.checks import run_checks
from engine.run.control import OperatorControl
from engine.run.fallbacks import Fallbacks, fallbacks, risk_fallbacks
from engine.run.gatekeeper import GateKeeper
from engine.run.monitoring import Watch
from engine.run.takeover import TakeOver
from engine.store.base import RunRow, Store
from engine.store.sink import FailedSink, Sink
from engine.watch.history import Learned, gate_waits, learned
from engine.watch.monitors import Monitors
from engine.watch.risks import Finding, Tuning

PROBE_TIMEOUT = 30.0
HEARTBEAT = 2.0
TICK = 1.0  # risk rules are evaluated once a second
COMMAND_POLL = 0.25  # seconds between two reads of the commands inbox
_ENDED = {
    TaskStatus.FAILED: "failed",
    TaskStatus.TIMED_OUT: "timed out",
    TaskStatus.CANCELLED: "was cancelled",
    TaskStatus.BLOCKED: "is blocked",
}


class Runner(Attempts, Fallbacks, OperatorControl, TakeOver, Watch):
    _sink: Sink  # made in run(): it needs the running loop

    def __init__(
        self,
        plan: Plan,
        store: Store,
        run_id: str,
        *,
        run_dir: str = "",
        executor: Executor | None = None,
        clock: Callable[[], float] = time.time,
        variables: dict[str, str] | None = None,
        listeners: Sequence[Callable[[ev.Event], None]] = (),
        resume: dict[str, str] | None = None,
    ) -> None:
        """`resume`: take over this existing run whose engine died (with the operator's answer
        for each task whose `on_resume` is `ask`) instead of starting a new one."""
        self.plan, self.store, self.run_id, self.run_dir = plan, store, run_id, run_dir
        self._resume = resume
        self._plan_path = os.path.abspath(plan.path) if plan.path else ""
        self.state = RunState()
        self._executor = executor or LocalExecutor()
        self._clock = clock
        self._listeners = list(listeners)
        self._graph = build(plan)
        self._sched = Scheduler.for_plan(plan, self._graph)
        self._tasks = {t.id: t for _, t in plan.tasks()}
        self._fallback = fallbacks(plan)
        self._standby = {fb: tid for tid, fb in self._fallback.items()}
        self._on_risk = risk_fallbacks(plan)
        self._tuning = Tuning.of(plan)  # per-phase and per-task risk thresholds
        self._called: set[str] = set()
        self._seq = 0
        self._running: dict[str, _Attempt] = {}
        self._retry_timers: dict[str, asyncio.TimerHandle] = {}
        self._waiting: dict[str, int] = {}
        self._last_output: dict[str, float] = {}  # task -> time of its last output line
        self._ticks = 0
        self._pressure: list[Finding] = []  # machine pressure at the last sample
        self._learned: dict[str, Learned] = {}  # estimates from earlier runs of the plan
        self._gate_waits: dict[str, float] = {}  # gate -> the median of its earlier waits
        self._last_forecast: dict[str, float] = {}  # predicted end (epoch) of the run, phases
        self._phase_lengths: dict[tuple[object, ...], float] = {}  # phases not started, forecast
        self._monitors: Monitors | None = None  # the plan's monitors, while the run goes
        self._paused = False
        self._phase = ""  # the phase under way
        self._stopping: dict[str, str] = {}  # running task -> status it ends with (operator)
        self._stop_reason: dict[str, str] = {}
        self._phase_tasks: set[str] = set()
        self._remaining = 0
        self._phase_done: asyncio.Future[None] | None = None
        self._cancel_reason = ""
        self._workdir = plan.base_dir
        self._values: dict[str, str] = {k: str(v) for k, v in plan.vars.items()}
        self._given = dict(variables or {})
        self._values.update(self._given)
        self._values.update(
            current_date=time.strftime("%Y-%m-%d"), run_id=run_id, workdir=self._workdir
        )
        self._env = dict(os.environ)
        self._env.update(PHASEGATE_RUN_ID=run_id, PHASEGATE_RUN_DIR=run_dir)
        self._feedback = ""  # the reason of the last rejection, for the phases that run again
        outputs = {
            p.id: [o for t in p.tasks for o in t.outputs if "{" not in o] for p in plan.phases
        }
        self._keeper = GateKeeper(
            self, plan.gates, self._workdir, self._task_env, self._values, outputs
        )

    # -- events ---------------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        self._seq += 1
        apply(self.state, event)
        self._sink.event(self._seq, event)
        if self._seq % SNAPSHOT_EVERY == 0:
            self._sink.snapshot(self._seq, snapshot_format(), dump_state(self.state))
        for listener in self._listeners:
            listener(event)

    def now(self) -> float:
        return self._clock()

    def _store_failed(self, exc: BaseException) -> None:
        """The database refused a batch (disk full, read-only): stop the run now. What was
        committed stays; the run is left interrupted, for `resume` once the cause is fixed."""
        if not isinstance(self._sink, FailedSink):
            self._sink = FailedSink(exc)
            self.cancel(f"the database failed: {exc}")

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> RunState:
        """Run the plan to its end (or until cancelled) and return the final state."""
        who = current_identity()
        started = self.now()
        before = await self.store.get_run(self.run_id)
        if before is None:
            row = RunRow(
                self.run_id,
                self.plan.name,
                self._plan_path,
                "pending",
                started,
                user=who.user,
                host=who.host,
            )
            await self.store.create_run(row)
            await self.store.save_plan(self.run_id, self.plan.text, self._given)
        pid = os.getpid()
        await self.store.acquire_lease(
            self.run_id, pid, process_start_time(pid), started, same_process
        )
        # after the lease: a refused second engine leaves nothing behind
        self._sink = Sink(self.store, self.run_id, on_error=self._store_failed)
        with contextlib.suppress(OSError):  # a failure shows on the first task, with the reason
            os.makedirs(self._workdir, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._beat = loop.call_later(TICK, self._tick)
        inbox: asyncio.Task[None] | None = None
        closing = asyncio.Event()  # stops the inbox between two reads, never inside one
        try:
            if self._resume is not None and before is not None:
                await self._take_over(before, who.user)
            else:
                self._learned = await learned(self.store, self.plan.name)
                self._gate_waits = gate_waits(self._learned)
                self._announce(started, who.user, who.host)
            # (after a take-over: a decision written while no engine ran finds its gate open)
            inbox = loop.create_task(self._read_commands(closing))
            monitors = Monitors.of(self.plan)
            if monitors:
                self._monitors = Monitors(
                    monitors, self._workdir, self._env, self._values, self.now
                )
            status, reason = await self._execute()
            self.emit(ev.RunFinished(self.now(), status, reason))
        finally:
            self._beat.cancel()
            if self._monitors is not None:
                await self._monitors.close()
            if inbox is not None:
                closing.set()
                await inbox
            self._kill_all()
            self._sink.summary(
                status=self.state.status.value,
                finished_at=self.state.finished_at,
                counts=self.state.counts(),
                heartbeat_at=self.now(),
            )
            try:
                await self._sink.close()  # (raises when a batch was lost: the run stays open)
            finally:
                if isinstance(self._executor, LocalExecutor):
                    self._executor.close()
            await self.store.release_lease(self.run_id, pid)
        return self.state

    def _announce(self, started: float, user: str, host: str) -> None:
        self.emit(
            ev.RunStarted(
                started,
                self.run_id,
                self.plan.name,
                self._plan_path,
                phases=[
                    {"id": p.id, "title": p.title, "timebox": p.timebox} for p in self.plan.phases
                ],
                tasks=[
                    {
                        "id": t.id,
                        "phase": p.id,
                        "agent": t.agent,
                        "capability": t.capability,
                        "needs": list(t.needs),
                        **self._estimate(t),
                        **({"priority": t.priority} if t.priority else {}),
                    }
                    for p, t in self.plan.tasks()
                ],
                gates=[
                    {
                        "id": g.id,
                        "after": g.after,
                        "approval": g.approval,
                        "approvers": list(g.approvers),
                        "quorum": g.quorum,
                    }
                    for g in self.plan.gates
                ],
                agents=[
                    {"id": a, "slots": s.slots, "capabilities": list(s.capabilities)}
                    for a, s in self.plan.agents.items()
                ],
                user=user,
                host=host,
            )
        )
        self._sink.summary(status="running", started_at=started)

    def _estimate(self, t: Task) -> dict[str, object]:
        """A task's estimate: the median of its earlier successful runs (with their p90) when
        history has them, else the plan's."""
        found = self._learned.get(t.id)
        if found is None:
            return {"estimate": t.estimate}
        return {"estimate": found.median, "p90": found.p90, "history": found.runs}

    async def _read_commands(self, closing: asyncio.Event) -> None:
        """Claim the intents front ends wrote into the run's inbox, each once, and act on them.
        Stopped by `closing` between two reads: a claim is never cut off half-way (claimed
        commands would be lost)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), COMMAND_POLL)
            if closing.is_set():
                return
            for command in await self.store.claim_commands(self.run_id, self.now()):
                if command.kind == "cancel":
                    reason = str(command.args.get("reason") or f"cancelled by {command.author}")
                    self.cancel(reason)
                elif command.kind in ("approve", "reject"):
                    self._keeper.decide(command)
                else:
                    ok, message = self.control(command.kind, command.args, command.author)
                    self.emit(
                        ev.CommandDone(
                            self.now(), command.id, command.kind, command.author, ok, message
                        )
                    )

    def _tick(self) -> None:
        """Once a second: risk rules; every HEARTBEAT seconds: the heartbeat and counts."""
        now = self.now()
        self._ticks += 1
        if self._ticks % int(HEARTBEAT / TICK) == 0:
            self._sink.summary(heartbeat_at=now, counts=self.state.counts())
        if self.state.finished_at is None:
            self._watch(now, self._ticks)
        self._beat = asyncio.get_running_loop().call_later(TICK, self._tick)

    async def _execute(self) -> tuple[str, str]:
        failed = self._checks("plan", self.plan.checks)
        if failed:
            self._block_from(0, f"plan check failed: {failed}")
            return RunStatus.FAILED, f"plan check failed: {failed}"
        await self._probe_agents()
        index = self._first_open_phase() if self._resume is not None else 0
        if self.plan.research and not self.state.research:
            await self._research()
        while index < len(self.plan.phases):
            phase = self.plan.phases[index]
            if self._cancel_reason:
                break
            self._phase = phase.id
            failed = self._checks(phase.id, phase.checks)
            if self.state.phases[phase.id].status != "running":  # (a resumed run's may be)
                self.emit(ev.PhaseStarted(self.now(), phase.id))
            if failed:
                reason = f"entry check of phase '{phase.id}' failed: {failed}"
                self._block_from(index, reason)
                self.emit(ev.PhaseFinished(self.now(), phase.id, "failed"))
                return RunStatus.FAILED, reason
            await self._run_phase([t.id for t in phase.tasks])
            status = self._phase_status([t.id for t in phase.tasks])
            self.emit(ev.PhaseFinished(self.now(), phase.id, status))
            if status == "failed":
                self._block_from(index + 1, f"phase '{phase.id}' failed")
                return RunStatus.FAILED, f"phase '{phase.id}' failed"
            rewind, reason = await self._gates_after(phase.id)
            if reason and rewind is None:
                self._block_from(index + 1, reason)
                return RunStatus.FAILED, reason
            index = rewind if rewind is not None else index + 1
        if self._cancel_reason:
            for tid, t in self.state.tasks.items():
                if not t.status.terminal:
                    self.emit(
                        ev.TaskFinished(
                            self.now(),
                            tid,
                            t.attempts,
                            "cancelled",
                            None,
                            reason=self._cancel_reason,
                        )
                    )
            return RunStatus.CANCELLED, self._cancel_reason
        return RunStatus.SUCCEEDED, ""

    async def _gates_after(self, phase: str) -> tuple[int | None, str]:
        """Run the gates after a phase: (phase index to rewind to, or None; why the run stops)."""
        for gate in self._keeper.after(phase):
            if self._cancel_reason:
                return None, ""
            outcome, reason = await self._keeper.run(gate)
            if outcome == "passed" or self._cancel_reason:
                continue
            rule = gate.on_reject
            if outcome == "rejected" and rule is not None and rule.rewind_to is not None:
                if self._keeper.attempts[gate.id] < rule.max_attempts:
                    self._feedback = reason
                    self.emit(ev.PhaseRewound(self.now(), rule.rewind_to, gate.id, reason))
                    ids = [p.id for p in self.plan.phases]
                    return ids.index(rule.rewind_to), ""
                reason += f" (after {rule.max_attempts} attempts)"
            return None, f"gate '{gate.id}' {outcome}: {reason}"
        return None, ""

    async def _research(self) -> None:
        """The plan's research queries, asked as the first phase starts (in parallel)."""
        from engine.run.research import ask_all

        for found in await ask_all(
            self.plan, self.store, self.run_id, self._values, self._workdir, self._env, self.now()
        ):
            self.emit(found)

    def _checks(self, scope: str, checks: object) -> str:
        from engine.plan.model import Checks

        results = run_checks(
            checks if isinstance(checks, Checks) else None, self._workdir, self._env
        )
        for name, passed, detail in results:
            self.emit(ev.CheckFinished(self.now(), scope, name, passed, detail))
        return "; ".join(f"{n}: {d}" for n, ok, d in results if not ok)

    async def _probe_agents(self) -> None:
        async def probe(name: str, command: str) -> None:
            command = substitute(command, self._values)
            result = await run_capture(command, self._workdir, self._env, PROBE_TIMEOUT)
            ok = result.code == 0
            detail = (
                "ready"
                if ok
                else (
                    f"`{command}` exited {result.code}: {result.error}"
                    if result.code is not None
                    else f"`{command}`: {result.error}"
                )
            )
            self._sched.set_ready(name, ok)
            self.emit(ev.AgentProbed(self.now(), name, ok, detail))

        probes = [probe(a, s.ready) for a, s in self.plan.agents.items() if s.ready]
        if probes:
            await asyncio.gather(*probes)

    def _block_from(self, phase_index: int, reason: str) -> None:
        for phase in self.plan.phases[phase_index:]:
            for task in phase.tasks:
                if not self.state.tasks[task.id].status.terminal:
                    self.emit(ev.TaskBlocked(self.now(), task.id, reason))

    def _phase_status(self, ids: list[str]) -> str:
        if self._cancel_reason:
            return "cancelled"
        for tid in ids:
            if self.state.tasks[tid].status in BAD and self._tasks[tid].on_failure == "fail":
                return "failed"
        return "succeeded"

    # -- one phase ------------------------------------------------------------------------

    async def _run_phase(self, ids: list[str]) -> None:
        self._phase_done = asyncio.get_running_loop().create_future()
        self._phase_tasks = set(ids)
        self._skip_unneeded(ids)
        ids = [t for t in ids if not self.state.tasks[t].status.terminal]
        self._remaining = len(ids)
        for tid in ids:
            self._waiting[tid] = 0
        for tid in ids:
            if tid in self._running:  # adopted from a dead engine: it runs already
                continue
            if tid in self._standby:
                self._stand_by(tid)
            if self._idle(tid):
                self._waiting[tid] += 1  # until its rule fires
            for need in self._graph.needs[tid]:
                status = self.state.tasks[need].status
                if self._blocks(need):
                    self._block(tid, f"needs '{need}', which {_ENDED[status]}")
                    break
                if not self._satisfied(need):
                    self._waiting[tid] += 1
            else:
                if self._waiting[tid] == 0:
                    self._make_ready(tid)
        self._dispatch()
        self._check_phase_done()
        await self._phase_done

    def _satisfied(self, tid: str) -> bool:
        status = self.state.tasks[tid].status
        if status is TaskStatus.SUCCEEDED or status is TaskStatus.SKIPPED:
            return True
        if status not in BAD:
            return False
        return self._tasks[tid].on_failure == "continue" or self._rescued(tid)

    def _blocks(self, tid: str) -> bool:
        if self.state.tasks[tid].status not in BAD:
            return False
        return self._tasks[tid].on_failure == "fail" or self._rescue_failed(tid)

    def _make_ready(self, tid: str) -> None:
        if not self._sched.runnable(tid):
            agents = self._sched.candidates[tid]
            why = (
                f"no ready agent can take it ({', '.join(agents)} not ready)"
                if agents
                else "no agent can take it"
            )
            self._block(tid, why)
            return
        self.emit(ev.TaskReady(self.now(), tid))
        self._sched.push(tid)

    def _block(self, tid: str, reason: str) -> None:
        """Block a task and, transitively, its dependents waiting in this phase."""
        work = [(tid, reason)]
        while work:
            tid, reason = work.pop()
            if self.state.tasks[tid].status.terminal:
                continue
            self.emit(ev.TaskBlocked(self.now(), tid, reason))
            self._remaining -= 1
            if self._fail_over(tid):
                continue  # its dependents wait for its fallback
            if tid in self._standby:
                self._fallback_ended(tid)
            if self._tasks[tid].on_failure == "continue":
                self._release_dependents(tid)
                continue
            for dep in self._graph.dependents[tid]:
                if dep in self._phase_tasks:
                    work.append((dep, f"needs '{tid}', which is blocked"))

    def _settled(self, tid: str) -> None:
        """A task reached its final status: release or block its dependents in this phase."""
        self._remaining -= 1
        if self._fail_over(tid):
            return  # its dependents wait for its fallback
        if tid in self._standby:
            self._fallback_ended(tid)
        if self._blocks(tid):
            ended = _ENDED[self.state.tasks[tid].status]
            for dep in self._graph.dependents[tid]:
                if dep in self._phase_tasks:
                    self._block(dep, f"needs '{tid}', which {ended}")
        else:
            self._release_dependents(tid)

    def _release_dependents(self, tid: str) -> None:
        for dep in self._graph.dependents[tid]:
            if dep in self._phase_tasks and not self.state.tasks[dep].status.terminal:
                self._waiting[dep] -= 1
                if self._waiting[dep] == 0:
                    self._make_ready(dep)

    def _check_phase_done(self) -> None:
        self._skip_idle()
        done = self._remaining <= 0 or (
            self._cancel_reason and not self._running and not self._retry_timers
        )
        if done and self._phase_done is not None and not self._phase_done.done():
            self._phase_done.set_result(None)

    # -- attempts -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._cancel_reason or self._paused:
            return
        if self._phase and self.state.phases[self._phase].held:
            return  # its phase is paused (pause --phase)
        for tid, agent in self._sched.take():
            self._start(tid, agent)

    def cancel(self, reason: str) -> None:
        """Stop the run: no new tasks, TERM every task's group (KILL after the grace period).
        A second call kills at once."""
        if self._cancel_reason:
            self._kill_all()
            return
        self._cancel_reason = reason
        self._keeper.cancel_all(reason)
        for timer in self._retry_timers.values():
            timer.cancel()
        self._retry_timers.clear()
        for a in self._running.values():
            if a.handle is not None:
                a.handle.terminate(self.plan.kill_grace)
        self._check_phase_done()

    def _kill_all(self) -> None:
        for a in self._running.values():
            if a.handle is not None and a.handle.pgid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(a.handle.pgid, signal.SIGKILL)
