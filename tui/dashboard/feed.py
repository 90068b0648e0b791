"""The dashboard's view of a run: tails the store and folds events with the engine's own fold.

Runs on the UI's event loop but does its I/O in aiosqlite's thread; it is drained about ten times
a second and reports what changed since the last drain, so widgets update only that.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from phasegate.engine.client import RunRow, SQLiteStore, deliver
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Command
from phasegate.engine.model.errors import PhasegateError
from phasegate.engine.model.fold import apply
from phasegate.engine.model.snapshot import readable, snapshot_format
from phasegate.engine.model.state import RunState
from phasegate.tui.dashboard.risks import MAX_RISKS, RISK_EVENTS, Risk, risk_of

FOLD_SLICE = 5000  # events folded before yielding to the UI loop


@dataclass
class Changes:
    """What a drain found: ids of changed tasks, agents and phases, and new risks."""

    tasks: set[str] = field(default_factory=set)
    agents: bool = False
    phases: bool = False
    run: bool = False
    risks: list[Risk] = field(default_factory=list)
    risks_cleared: bool = False  # a risk rule's risk no longer holds (the feed marks it)
    gates_opened: list[str] = field(default_factory=list)  # manual gates that now wait
    changes_opened: list[str] = field(default_factory=list)  # amendments at their change gate
    changes_closed: list[ev.ChangeClosed] = field(default_factory=list)
    gates_closed: list[ev.GateClosed] = field(default_factory=list)  # decided (maybe elsewhere)
    answers: list[ev.Event] = field(default_factory=list)  # answers to commands
    asked: bool = False  # a risk rule asks the operator (the run paused for it)
    permissions_asked: list[str] = field(default_factory=list)  # agents' requests now open
    permissions_answered: list[ev.PermissionAnswered] = field(default_factory=list)
    answered: bool = False  # the run went on or ended: a question open is answered

    def __bool__(self) -> bool:
        return bool(
            self.tasks or self.agents or self.phases or self.run or self.risks or self.answers
        )


class RunFeed:
    def __init__(
        self, store: SQLiteStore, run_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.clock = clock  # the screens' "now" (frozen in snapshot tests)
        self.state = RunState()
        self.row: RunRow | None = None
        self.risks: deque[Risk] = deque(maxlen=MAX_RISKS)  # the newest
        self._open: set[str] = set()  # risk rules' keys raised and not cleared since
        self._seq = 0
        self._output_cursor = 0
        self.last_output: dict[str, float] = {}  # task -> time of its newest output line
        self.last_line: dict[str, str] = {}  # task -> that line (what an agent does now)
        # the commands this dashboard sent that the engine answered there and then (their
        # answers are told by the screen that sent them), and the last one's answer
        self.told: set[int] = set()
        self.answer: ev.Event | None = None
        # while a command of this dashboard is on its way, the answers of this user read back
        # wait (its own may be read before `send` knows its number), told after it if not its
        self._sending = 0
        self._held: list[ev.Event] = []

    async def send(self, order: Command) -> str | None:
        """Hand `order` to the run's engine (through its socket): None once it took it, else
        why not (no engine holds the run, its socket is not open to this user, the engine
        refused it: an observer of a shared run who may not operate, say)."""
        self.answer = None
        self._sending += 1
        try:
            number, answer = await deliver(self.store, self.run_id, order)
        except PhasegateError as exc:
            return str(exc)
        finally:
            self._sending -= 1
        if isinstance(answer, ev.CommandDone | ev.GateRefused):
            # (the caller says it; read back from the run, it is not said again here)
            self.answer = answer
            self.told.add(number)
        if isinstance(answer, ev.CommandDone) and not answer.ok:
            why = answer.message
        elif isinstance(answer, ev.GateRefused):
            why = answer.why
        else:
            return None
        # (said once: some refusals, an amendment's, start with it already, as `amend` prints)
        return why if why.startswith("refused: ") else f"refused: {why}"

    async def drain(self) -> Changes:
        changes = Changes()
        first = self._seq == 0
        if first:
            await self._from_snapshot(changes)
        events = await self.store.read_events(self.run_id, self._seq)
        for i, (seq, event) in enumerate(events):
            self._seq = seq
            apply(self.state, event)
            self._note(event, changes)
            if i and i % FOLD_SLICE == 0:
                await asyncio.sleep(0)
        if first:  # what was answered before this dashboard opened is history, not news
            changes.answers.clear()
        self._hold(changes)
        self._output_cursor, active = await self.store.output_activity(
            self.run_id, self._output_cursor
        )
        for task, (ts, text) in active.items():
            self.last_output[task] = ts  # shown in whole seconds: the 1 s tick redraws it
            self.last_line[task] = text
        return changes

    def _hold(self, changes: Changes) -> None:
        """This user's answers wait while a command of this dashboard is on its way (the engine
        records its answer before this dashboard hears it, so a drain may read it first); then
        they are news again, and the one its sender told is not told twice (`told`)."""
        if self._sending:
            me = os.getuid()
            mine = [
                a
                for a in changes.answers
                if isinstance(a, ev.CommandDone | ev.GateRefused) and a.uid == me
            ]
            self._held += mine
            changes.answers = [a for a in changes.answers if not any(a is m for m in mine)]
        elif self._held:
            changes.answers[:0] = self._held
            self._held = []

    async def _from_snapshot(self, changes: Changes) -> None:
        """Attach to a long run from its newest snapshot instead of its first event: the fold
        up to the snapshot is read whole, and of the events before it only the newest that
        make a risk (for the risk feed, which keeps the newest MAX_RISKS)."""
        found = await self.store.latest_snapshot(self.run_id, snapshot_format())
        kept = readable(found[1]) if found is not None else None
        if found is None or kept is None:  # (none, or damaged: folded from the first event)
            return
        seq = found[0]
        self.state, self._seq = kept, seq
        older: list[Risk] = []
        upto = seq
        said_again: set[str] = set()  # keys raised later with no clear between (newest first)
        kinds = (*RISK_EVENTS, ev.RiskCleared.type)
        while len(older) < MAX_RISKS:
            page = await self.store.recent_events(self.run_id, kinds, upto, MAX_RISKS)
            for _, event in page:
                if isinstance(event, ev.RiskCleared):
                    said_again.discard(event.key)
                    continue
                risk = risk_of(event, self.state)
                if risk is not None and risk.key:
                    if risk.key in said_again:  # (raised again while open: the newer says it)
                        continue
                    said_again.add(risk.key)
                if risk is not None:
                    older.append(risk)
            if len(page) < MAX_RISKS:
                break
            upto = page[-1][0] - 1
        self.risks.extend(reversed(older[:MAX_RISKS]))
        self._open = {key for key, r in self.state.risks.items() if r.open}
        changes.risks.extend(self.risks)
        changes.tasks.update(self.state.tasks)
        changes.run = changes.agents = changes.phases = True
        gates = self.state.gates.values()
        changes.gates_opened.extend(
            g.id for g in gates if g.status == "open" and g.approval == "manual"
        )
        changes.asked = bool(self.state.question)
        perms = self.state.permissions.values()
        changes.permissions_asked.extend(p.id for p in perms if p.status == "open")

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
        if isinstance(event, ev.ChangeProposed):  # (a change gate: an amendment of the plan)
            changes.changes_opened.append(event.change)
        if isinstance(event, ev.ChangeClosed):
            changes.changes_closed.append(event)
        if isinstance(event, ev.GateVoted | ev.GateRefused | ev.CommandDone):
            changes.answers.append(event)
        if isinstance(event, ev.GateOpened | ev.GateClosed | ev.GateVoted | ev.PhaseRewound):
            changes.phases = True
        if isinstance(event, ev.PhaseRewound):  # (the fold set the tasks of the phases it
            # sends back pending: their rows, or they kept `succeeded` while `show` said pending)
            again = {p for p, phase in self.state.phases.items() if phase.status == "pending"}
            changes.tasks.update(t.id for t in self.state.tasks.values() if t.phase in again)
        if isinstance(event, ev.RunRecovered):  # (a take-over: the tasks it found in flight)
            found = (str(t.get("task")) for t in event.tasks)
            changes.tasks.update(t for t in found if t in self.state.tasks)
            changes.agents = changes.phases = True
        if isinstance(event, ev.AgentSlotsChanged):
            changes.agents = True
        if isinstance(event, ev.PermissionAsked):  # (the roster says who waits)
            changes.permissions_asked.append(event.id)
            changes.agents = True
        if isinstance(event, ev.PermissionAnswered):
            changes.permissions_answered.append(event)
            changes.agents = True
        if isinstance(event, ev.RunPaused) and event.ask and not event.phase:
            changes.asked = True
        if isinstance(event, ev.RunResumed | ev.RunFinished) and not getattr(event, "phase", ""):
            changes.answered, changes.asked = True, False
        # (the run's end too: a gate left waiting reads `not decided`, the time left goes; a
        # run cancelled while its last gate waited changed no phase, and the panel kept
        # `waiting for approval` under a `cancelled` header)
        if isinstance(event, ev.ForecastUpdated | ev.RunPaused | ev.RunResumed | ev.RunFinished):
            changes.phases = True
        if isinstance(event, ev.RunStarted | ev.PlanAmended):  # (an amendment: the whole shape)
            changes.tasks.update(self.state.tasks)
            changes.agents = changes.phases = True
        risk = risk_of(event, self.state)
        if risk is not None and risk.key:
            if risk.key in self._open:  # raised again while open (it says something else now):
                # the row is replaced, not shown as a risk that cleared
                at = next(
                    (
                        i
                        for i in range(len(self.risks) - 1, -1, -1)
                        if self.risks[i].key == risk.key
                    ),
                    None,
                )
                if at is not None:
                    del self.risks[at]
                changes.risks_cleared = True  # (the feed is shown again whole)
            self._open.add(risk.key)
        if risk is not None:
            self.risks.append(risk)
            changes.risks.append(risk)
        if isinstance(event, ev.RiskCleared):
            self._open.discard(event.key)
            changes.risks_cleared = True
