"""The dashboard's view of a run: tails the store and folds events with the engine's own fold.

Runs on the UI's event loop but does its I/O in aiosqlite's thread; it is drained about ten times
a second and reports what changed since the last drain, so widgets update only that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine import events as ev
from engine.state import RunState, apply
from engine.store import SQLiteStore
from engine.store.base import RunRow

from .risks import Risk, risk_of

FOLD_SLICE = 5000  # events folded before yielding to the UI loop


@dataclass
class Changes:
    """What a drain found: ids of changed tasks, agents and phases, and new risks."""

    tasks: set[str] = field(default_factory=set)
    agents: bool = False
    phases: bool = False
    run: bool = False
    risks: list[Risk] = field(default_factory=list)
    gates_opened: list[str] = field(default_factory=list)  # manual gates that now wait
    gates_closed: list[ev.GateClosed] = field(default_factory=list)  # decided (maybe elsewhere)
    answers: list[ev.Event] = field(default_factory=list)  # answers to commands

    def __bool__(self) -> bool:
        return bool(self.tasks or self.agents or self.phases or self.run or self.risks)


class RunFeed:
    def __init__(
        self, store: SQLiteStore, run_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.clock = clock  # the screens' "now" (frozen in snapshot tests)
        self.state = RunState()
        self.row: RunRow | None = None
        self.risks: list[Risk] = []
        self._seq = 0
        self._output_cursor = 0
        self.last_output: dict[str, float] = {}  # task -> time of its newest output line

    async def drain(self) -> Changes:
        changes = Changes()
        events = await self.store.read_events(self.run_id, self._seq)
        for i, (seq, event) in enumerate(events):
            self._seq = seq
            apply(self.state, event)
            self._note(event, changes)
            if i and i % FOLD_SLICE == 0:
                await asyncio.sleep(0)
        self._output_cursor, active = await self.store.output_activity(
            self.run_id, self._output_cursor
        )
        self.last_output.update(active)  # shown in whole seconds: the 1 s tick redraws it
        return changes

    async def refresh_row(self) -> RunRow | None:
        self.row = await self.store.get_run(self.run_id)
        return self.row

    def _note(self, event: ev.Event, changes: Changes) -> None:
        changes.run = True
        task = getattr(event, "task", None)
        if isinstance(task, str):
            changes.tasks.add(task)
        if isinstance(event, ev.TaskStarted | ev.TaskFinished | ev.AgentProbed | ev.TaskSkipped):
            changes.agents = True
        if isinstance(event, ev.PhaseStarted | ev.PhaseFinished | ev.TaskFinished):
            changes.phases = True
        if isinstance(event, ev.GateOpened) and event.approval == "manual":
            changes.gates_opened.append(event.gate)
        if isinstance(event, ev.GateClosed):
            changes.gates_closed.append(event)
        if isinstance(event, ev.GateVoted | ev.GateRefused | ev.CommandDone):
            changes.answers.append(event)
        if isinstance(event, ev.GateOpened | ev.GateClosed | ev.GateVoted | ev.PhaseRewound):
            changes.phases = True
        if isinstance(event, ev.AgentSlotsChanged):
            changes.agents = True
        if isinstance(event, ev.RunStarted):
            changes.tasks.update(self.state.tasks)
            changes.agents = changes.phases = True
        risk = risk_of(event, self.state)
        if risk is not None:
            self.risks.append(risk)
            changes.risks.append(risk)
