"""The run loop: holds the run's parts, walks the plan phase by phase, and records every fact
as an event.

It owns no run state: every fact is an event, folded into `self.state` by the same `apply` the
front ends use, and appended to the store in batches. The parts (engine/run/*) each do one job
and see the loop through `host.Host`:

- `Progress`: one phase under way (what waits for what, what is ready, what is blocked)
- `Attempts`: one task attempt from spawn to outcome, on the executor
- `GateKeeper`: the gates after a phase: criteria, approvers, timeouts
- `OperatorControl`: operators' commands (pause, priority, slots, retry, skip, ...)
- `Fallbacks`: tasks that stand by for a failure or a risk
- `Monitoring`: the forecast, risks and contingency actions, once a tick
- `TakeOver`: going on with a run whose engine died
- `Opening`: the run claimed in the store, then announced (or taken over)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from msgspec.structs import replace

from phasegate.engine.agents.kinds import adapter_for
from phasegate.engine.exec.adopt import clear as clear_attempt_files
from phasegate.engine.exec.base import Adopting
from phasegate.engine.exec.executors import Executors
from phasegate.engine.exec.local import LocalExecutor
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply
from phasegate.engine.model.identity import Identity, current_identity
from phasegate.engine.model.secrets import Redactor
from phasegate.engine.model.snapshot import SNAPSHOT_EVERY, snapshot_format
from phasegate.engine.model.snapshot import dump as dump_state
from phasegate.engine.model.state import RunState
from phasegate.engine.plan.dag import build
from phasegate.engine.plan.model import Plan
from phasegate.engine.plan.repo import make_workdir
from phasegate.engine.plan.scheduler import Scheduler
from phasegate.engine.plan.secrets import resolve as resolve_secrets
from phasegate.engine.plan.secrets import secret_sources
from phasegate.engine.plan.template import Raw
from phasegate.engine.run import feedback, trees
from phasegate.engine.run.amend import Amendments
from phasegate.engine.run.attempts import Attempts
from phasegate.engine.run.budgets import Budgets
from phasegate.engine.run.channel import Channel
from phasegate.engine.run.control import OperatorControl
from phasegate.engine.run.course import Course
from phasegate.engine.run.endings import refuse_outside_outputs
from phasegate.engine.run.fallbacks import Fallbacks
from phasegate.engine.run.gatekeeper import GateKeeper
from phasegate.engine.run.gates import refuse_unreachable
from phasegate.engine.run.inbox import Inbox
from phasegate.engine.run.monitoring import Monitoring
from phasegate.engine.run.notify import Notifier
from phasegate.engine.run.opening import Opening
from phasegate.engine.run.progress import Progress
from phasegate.engine.run.reach import Reach
from phasegate.engine.run.readiness import Readiness
from phasegate.engine.run.takeover import TakeOver
from phasegate.engine.run.talks import Talks
from phasegate.engine.store.base import Store
from phasegate.engine.store.paths import socket_path
from phasegate.engine.store.sink import FailedSink, Sink
from phasegate.engine.watch.history import Learned, costs, estimates, gate_waits
from phasegate.engine.watch.monitors import Monitors

HEARTBEAT = 2.0
TICK = 1.0  # risk rules are evaluated once a second


class Runner:
    _sink: Sink  # made in run(): it needs the running loop

    def __init__(
        self,
        plan: Plan,
        store: Store,
        run_id: str,
        *,
        run_dir: str = "",
        executor: Adopting | None = None,
        clock: Callable[[], float] = time.time,
        variables: dict[str, str] | None = None,
        listeners: Sequence[Callable[[ev.Event], None]] = (),
        resume: dict[str, str] | None = None,
        tty: str = "",
        share: int | None = None,
    ) -> None:
        """`resume`: take over this existing run whose engine died (with the operator's answer
        for each task whose `on_resume` is `ask`) instead of starting a new one. `share`: the
        group id whose members may reach the run's socket."""
        self.plan, self.store, self.run_id, self.run_dir = plan, store, run_id, run_dir
        self._resume, self.share = resume, share
        self._tty = tty  # (the launcher's terminal, for an engine started without one)
        if resume is None:  # (a gate that can never pass: refused before anything is recorded)
            refuse_unreachable(plan.gates, current_identity().user, share)
        self._plan_path = os.path.abspath(plan.path) if plan.path else ""
        self.state = RunState()
        self._executors = Executors(plan.agents, executor or LocalExecutor())
        self._clock = clock
        self._listeners = list(listeners)
        self._seq = 0
        self._ticks = 0
        self._recording = False  # events can be recorded (the run is announced or taken over)
        self._ending = False  # its work is over: it records its end, and takes no command
        self._early_cancel = ""  # a cancel that came before that (Ctrl-C while starting)
        self._closing = False  # its end recorded, the exit waits for notify commands under way
        # a command being taken: what it emits, and who sent it (as the run's socket vouches)
        self._caught: tuple[list[ev.Event], Identity] | None = None
        self._workdir = plan.base_dir
        self._values: dict[str, str] = {k: str(v) for k, v in plan.vars.items()}
        self._given = dict(variables or {})
        self._values.update(self._given)
        for name in plan.raw_vars:  # (the plan's opt-in: these values may add shell syntax)
            if name in self._values:
                self._values[name] = Raw(self._values[name])
        self._values.update(
            current_date=time.strftime("%Y-%m-%d"), run_id=run_id, workdir=self._workdir
        )
        if resume is None:  # (a variable that moves an output out of the workdir: exit 2)
            refuse_outside_outputs(plan, self._values, self._workdir)
        # declared secrets, read from their sources now (also when a run is taken over): only
        # the tasks that name one get it; everything kept goes through the redactor first
        self._secrets = resolve_secrets(plan)
        self.redactor = Redactor(self._secrets, keep=plan.names())
        self._env = {k: v for k, v in os.environ.items() if k not in secret_sources(plan)}
        self._env.update(PHASEGATE_RUN_ID=run_id, PHASEGATE_RUN_DIR=run_dir)
        # the parts
        graph = self._graph = build(plan)
        self.estimates: dict[str, float] = {}  # (from history: `_learn`)
        sched = self._sched = Scheduler.for_plan(plan, graph)
        tasks = {t.id: t for _, t in plan.tasks()}
        self._progress = Progress(self, graph, sched, tasks)
        self._fallbacks = Fallbacks(self, graph, self._progress)
        self._attempts = Attempts(
            self,
            sched,
            self._executors,
            self._progress,
            {a: adapter_for(a, spec, self._values) for a, spec in plan.agents.items()},
            values=self._values,
            env=self._env,
            workdir=self._workdir,
            run_dir=run_dir,
            secrets=self._secrets,
            redactor=self.redactor,
        )
        self._progress.fallbacks, self._progress.attempts = self._fallbacks, self._attempts
        self._control = OperatorControl(self, graph, sched, self._attempts, self._progress)
        self._monitoring = Monitoring(
            self, graph, sched, self._attempts, self._fallbacks, self._control, self._workdir
        )
        outputs = {
            p.id: [o for t in p.tasks for o in t.outputs if "{" not in o] for p in plan.phases
        }
        self._keeper = GateKeeper(
            self, plan.gates, self._workdir, self._attempts.task_env, self._values, outputs
        )
        self._takeover = TakeOver(
            self, store, run_dir, sched, self._executors, self._attempts, self._keeper
        )
        self._tasks = tasks
        self._notifier = Notifier(
            self, self._listeners, self._workdir, self._env, self._values, self.redactor.text
        )
        self._ready = Readiness(
            self, sched, self._values, self._workdir, self._env, self._executors
        )
        self._talks = self._attempts.talks = Talks(self, self._attempts.show)
        self._budgets = self._attempts.budgets = Budgets(self, self._control)
        self._amend = Amendments(self)
        self._opening = Opening(self)  # the run claimed in the store, announced or taken over
        self._course = Course(self)  # phases in order, their tasks and gates
        self._inbox = Inbox(
            self, self._control, self._keeper, self.cancel, self._talks, self._amend
        )
        # the run's socket: commands reach the engine only through it (none without a run dir)
        path = socket_path(run_dir) if run_dir else ""
        self._channel = Channel(path, self.submit, share, self.stored) if path else None

    # -- what the parts see (host.Host) -------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        event = self.redactor.event(event)  # (before the fold: a snapshot holds no secret)
        self._seq += 1
        resumed = isinstance(event, ev.RunResumed) and not event.phase
        asked = self.state.question.get("risk", "") if resumed else ""
        apply(self.state, event)
        self._sink.event(self._seq, event)
        if self._seq % SNAPSHOT_EVERY == 0:
            self._sink.snapshot(self._seq, snapshot_format(), dump_state(self.state))
        for listener in self._listeners:
            listener(event)
        if self._caught is not None:
            self._caught[0].append(event)
        if resumed or (isinstance(event, ev.RunPaused) and not event.phase):
            self._sink.summary(status=self.state.status.value)  # (`runs` lists it paused)
        if isinstance(event, ev.TaskUsage):
            self._budgets.saw(event)
        elif asked.startswith("budget:"):  # (an operator went on past a spent budget)
            assert isinstance(event, ev.RunResumed)
            sender = self._caught[1] if self._caught is not None else None
            self._budgets.extend(asked.removeprefix("budget:"), event.by, sender)
        elif (
            isinstance(event, ev.GateOpened)
            and not self.state.cancelling  # (opened undecided by the run's stop: nobody asked)
            and feedback.should_ask(self.state, event.gate)
        ):
            self.emit(feedback.asked_event(self.state, event.ts))  # (the plan's feedback.at)

    def now(self) -> float:
        return self._clock()

    def _learn(self, found: dict[str, Learned]) -> None:
        """What the plan's earlier runs taught, for the parts that use it."""
        self._monitoring.learned = found
        self._monitoring.gate_waits = gate_waits(found)
        self._budgets.expected = costs(found)
        # the estimates the ready tasks are ordered by (the longest path first): history's where
        # there is some, as the dry run (`phasegate plan`) has them
        self.estimates = estimates(found)
        if self.estimates:
            graph = build(self.plan, self.estimates)
            self._graph.estimate, self._graph.rank = graph.estimate, graph.rank
            keys = self._sched.key
            for tid, (priority, _, order) in list(keys.items()):
                keys[tid] = (priority, -graph.rank[tid], order)

    def submit(self, kind: str, args: dict[str, Any], who: Identity) -> dict[str, Any]:
        """A command from `who` (as the run's socket vouches), acted on and answered."""
        if not self._recording:
            return {"error": "the run is starting; send the command again in a moment"}
        # (a command that starts work, taken now, would start it after the run's end; a decision
        # goes to its gate, whose refusal is audited: an amendment's says the work has ended)
        if self._ending and kind not in ("note", "feedback", "approve", "reject"):
            return {"error": "the run's work has ended: it takes no command that steers it"}
        caught: list[ev.Event] = []
        self._caught = (caught, who)
        try:
            answer = self._inbox.submit(kind, args, who)
        finally:
            self._caught = None
        for event in caught:  # the event answering it goes back with its number
            if getattr(event, "command", None) == answer.get("id"):
                name, version, data = event.record()
                answer["event"] = {"type": name, "ts": event.ts, "v": version, "data": data}
                break
        return answer

    def dispatch(self) -> None:
        self._course.dispatch()

    def _store_failed(self, exc: BaseException) -> None:
        """The database refused a batch (disk full, read-only): stop the run now. What was
        committed stays; the run is left interrupted, for `resume` once the cause is fixed."""
        if not isinstance(self._sink, FailedSink):
            self._sink = self._attempts.output.sink = FailedSink(exc)
            self.cancel(f"the database failed: {exc}")

    # -- the run --------------------------------------------------------------------------

    async def stored(self) -> None:
        """Returns once every event emitted so far is in the database (raises as a write
        failed)."""
        await self._sink.flush()

    async def run(self) -> RunState:
        """Run the plan to its end (or until cancelled) and return the final state."""
        who = current_identity()
        if self._tty and not who.tty:
            who = replace(who, tty=self._tty)
        started = self.now()
        pid = os.getpid()
        before = await self._opening.claim(who, started, pid)
        # after the lease: a refused second engine leaves nothing behind
        self._sink = self._attempts.output.sink = Sink(
            self.store, self.run_id, on_error=self._store_failed
        )
        with contextlib.suppress(OSError):  # a failure shows on the first task, with the reason
            make_workdir(self._workdir, self.plan.plan_dir)  # (a typo builds no tree)
        loop = asyncio.get_running_loop()
        self._beat = loop.call_later(TICK, self._tick)
        try:
            if self._channel is not None:  # before the first event: it tells clients to come
                await self._channel.open()
            await self._opening.open(before, who, started)
            self._attempts.worktrees = trees.worktrees(
                self.state, self.run_id, self.run_dir, self._workdir
            )
            if self._early_cancel:
                self.cancel(self._early_cancel)
            if any(a.host or a.executor for a in self.plan.agents.values()):
                self._monitoring.reach = Reach(self, self._executors)
            monitors = Monitors.of(self.plan)
            if monitors:
                self._monitoring.monitors = Monitors(
                    monitors, self._workdir, self._env, self._values, self.now
                )
            status, reason = await self._course.run()
            self._ending = True
            damage = await self.store.damage()
            if damage:  # (what it recorded cannot be trusted: never `succeeded`)
                status, reason = "failed", f"the database is damaged: {damage}"
            if feedback.should_ask(self.state):  # (its questions, as the run ends)
                self.emit(feedback.asked_event(self.state, self.now()))
            if self._recording:
                self._monitoring.settle(self.now())
                self._amend.close_open()
            self.emit(ev.RunFinished(self.now(), status, reason))
        finally:
            self._beat.cancel()
            if self._monitoring.monitors is not None:
                await self._monitoring.monitors.close()
            if self._channel is not None:
                self._inbox.closed = f"the run has ended ({self.state.status.value})"
                await self._channel.close()
            self._attempts.kill_all()
            trees.remove(self._attempts.worktrees, self.plan, self.state)
            self._sink.summary(
                status=self.state.status.value,
                finished_at=self.state.finished_at,
                counts=self.state.counts(),
                heartbeat_at=self.now(),
            )
            if self._notifier.busy:  # (the end recorded, `runs` too, before it waits for them)
                with contextlib.suppress(Exception):  # (a lost batch: close() raises it below)
                    await self._sink.flush()
                self._closing = True  # (a stop now kills them: cancel())
                await self._notifier.close()
            try:
                await self._sink.close()  # (raises when a batch was lost: the run stays open)
                if self.state.finished_at is not None and self.run_dir:
                    clear_attempt_files(self.run_dir)  # (all read and recorded)
            finally:
                self._executors.close()
            await self.store.release_lease(self.run_id, pid)
        return self.state

    def _tick(self) -> None:
        """Once a second: risk rules; every HEARTBEAT seconds: the heartbeat and counts."""
        now = self.now()
        self._ticks += 1
        if self._ticks % int(HEARTBEAT / TICK) == 0:
            self._sink.summary(heartbeat_at=now, counts=self.state.counts())
        if self._recording and self.state.finished_at is None:
            self._monitoring.tick(now, self._ticks)
            self._budgets.tick()
        self._attempts.flush_windows()  # (lines held for secrets wait a second at most)
        self._beat = asyncio.get_running_loop().call_later(TICK, self._tick)

    def cancel(self, reason: str) -> None:
        """Stop the run: no new tasks, TERM every task's group (KILL after the grace period).
        A second call kills at once. Before the run is recorded (its lease, its announcement
        or the take-over's fold under way) the cancel waits for that; once its end is recorded,
        it stops the notify commands the engine's exit waits for."""
        if self._closing:
            self._notifier.stop()
            return
        if not self._recording:
            self._early_cancel = self._early_cancel or reason
            return
        if self.state.cancelling:
            self._attempts.kill_all()
            return
        self.emit(ev.RunCancelling(self.now(), reason))
        self._ready.stop()  # (an agent's readiness probe under way: stopped at once)
        self._keeper.cancel_all(reason)
        self._attempts.cancel(self.plan.kill_grace)
        self._progress.check_done()
