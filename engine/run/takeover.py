"""The runner's part of a take-over: fold what a dead engine recorded, settle its in-flight
attempts (engine/recovery.py), wait for the adopted ones, and go on where the run stopped.
Also the output files of attempts that may be adopted later (engine/adopt.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.durable.adopt import POLL, AdoptedProcess, FileTail, files_for, wrap
from engine.model import events as ev
from engine.model.snapshot import fold_run

if TYPE_CHECKING:
    from engine.exec.local import Exit
    from engine.model.state import RunState
    from engine.plan.model import Plan, Task
    from engine.plan.scheduler import Scheduler
    from engine.run.attempts import _Attempt
    from engine.run.gatekeeper import GateKeeper
    from engine.store.base import RunRow, Store
    from engine.store.sink import Sink


class TakeOver:
    """Mixed into the Runner."""

    # provided by the Runner
    plan: Plan
    state: RunState
    store: Store
    run_id: str
    run_dir: str
    _seq: int
    _sink: Sink
    _sched: Scheduler
    _keeper: GateKeeper
    _resume: dict[str, str] | None
    _running: dict[str, _Attempt]
    _tasks: dict[str, Task]
    _tailing: asyncio.TimerHandle | None = None

    def emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def _line(self, a: _Attempt, stream: str, text: str) -> None:
        raise NotImplementedError

    def _finished(self, a: _Attempt, result: Exit) -> None:
        raise NotImplementedError

    def _attempt(self, task: Task, number: int, agent: str) -> _Attempt:
        raise NotImplementedError

    async def _take_over(self, before: RunRow, user: str) -> None:
        """Fold what the dead engine recorded, settle the tasks it had in flight, go on."""
        from engine.durable.recovery import take_over  # (psutil: not on every run's start-up path)

        self.state, self._seq = await fold_run(self.store, self.run_id)
        for agent, a in self.state.agents.items():  # slots an operator changed
            if agent in self.plan.agents and a.slots != self.plan.agents[agent].slots:
                self._sched.set_slots(agent, a.slots)
        policies: dict[str, str] = {t.id: t.on_resume for _, t in self.plan.tasks()}
        entries = await take_over(
            self.state, self.run_id, policies, self._resume or {}, self.run_dir
        )
        self.emit(
            ev.RunRecovered(self.now(), user, before.engine_pid, before.heartbeat_at, entries)
        )
        self._sink.summary(status="running", finished_at=None)
        for entry in entries:
            if entry["action"] == "adopted":
                await self._wait_for(str(entry["task"]), int(str(entry["attempt"])))

    async def _wait_for(self, tid: str, number: int) -> None:
        """Adopt a dead engine's attempt: its slot stays taken, its output files are read on
        from the lines already stored, its end comes from its pidfd and status file."""
        t = self.state.tasks[tid]
        agent = t.agent or next(iter(self._sched.candidates[tid]), "")
        attempt = self._attempt(self._tasks[tid], number, agent)
        stored = await self.store.read_output(self.run_id, tid, number)
        files = files_for(self.run_dir, tid, number)
        attempt.lines = max((line.line for line in stored), default=0)
        attempt.tail = FileTail(
            files,
            sum(1 for line in stored if line.stream == "out"),
            sum(1 for line in stored if line.stream == "err"),
        )
        self._sched.occupy(tid, agent)
        self._running[tid] = attempt
        self._follow_files()
        done: Callable[[Exit], None] = lambda result: self._finished(attempt, result)  # noqa: E731
        attempt.handle = AdoptedProcess(t.pid, files, done)

    def _adoptable(self, attempt: _Attempt, argv: list[str]) -> list[str]:
        """Run an attempt that may be adopted after a crash with its output in files."""
        files = files_for(self.run_dir, attempt.task.id, attempt.number)
        attempt.tail = FileTail(files)
        self._follow_files()
        return wrap(argv, files)

    def _follow_files(self) -> None:
        if self._tailing is None:
            self._tailing = asyncio.get_running_loop().call_later(POLL, self._read_files)

    def _read_files(self) -> None:
        self._tailing = None
        tailed = [a for a in self._running.values() if a.tail is not None]
        for a in tailed:
            assert a.tail is not None
            for stream, text in a.tail.poll():
                self._line(a, stream, text)
        if tailed:
            self._follow_files()

    def _first_open_phase(self) -> int:
        """Where a resumed run goes on: the first phase not finished with its gates passed."""
        for index, phase in enumerate(self.plan.phases):
            ps = self.state.phases.get(phase.id)
            if ps is None or ps.status != "succeeded":
                return index
            gates = self._keeper.after(phase.id)
            if any(self.state.gates[g.id].status != "passed" for g in gates):
                return index
        return len(self.plan.phases)
