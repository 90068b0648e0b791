"""Steering a live run from any terminal: skip, cancel, pause, resume, note; and its risks."""

from __future__ import annotations

import json
from collections.abc import Iterable

from phasegate.engine.client import (
    RunRow,
    SQLiteStore,
    ask,
    engine_alive,
    resolve_run,
    take_over_hint,
)
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import (
    Approve,
    Cancel,
    CancelTask,
    Command,
    Pause,
    Priority,
    Reject,
    Resume,
    Retry,
    Skip,
    Slots,
)
from phasegate.engine.model.errors import PhasegateError, UsageError
from phasegate.engine.model.fold import project
from phasegate.engine.model.state import RunState
from phasegate.tui.text import safe, table, when


class Refused(PhasegateError):
    """The engine refused the command, or there is no engine to take it (exit 1)."""


async def live_run(store: SQLiteStore, ref: str, what: str, order: Command | None = None) -> RunRow:
    """The run, if its engine is alive to take a command; Refused otherwise. An `order`
    naming a task, gate, agent or phase the run does not have is a UsageError (exit 2) all
    the same, whatever the run's state: bad input, whether or not an engine could take it."""
    row = await resolve_run(store, ref)
    if order is not None and (row.finished_at is not None or not engine_alive(row)):
        await check_names(store, row, order)
    if row.finished_at is None and not engine_alive(row):
        raise Refused(
            f"run {row.id} was interrupted: its engine is not running; "
            + take_over_hint(store.path, row.id, row.user)
        )
    if row.finished_at is not None:
        raise Refused(f"run {row.id} is {row.status} and has no live engine; {what}")
    return row


async def check_names(store: SQLiteStore, row: RunRow, order: Command) -> None:
    """UsageError (exit 2) when `order` names a task, agent, phase or gate the run does not
    have, before anything is sent: an unknown name is bad input, not a refusal by policy.
    A run whose start is not recorded yet is left to its engine to judge."""
    from phasegate.engine.model.snapshot import fold_run

    state = (await fold_run(store, row.id))[0]
    if not state.run_id:
        return
    why = unknown_name(state, order)
    if why:
        raise UsageError(f"run {row.id} {why}")


def unknown_name(state: RunState, order: Command) -> str:
    """What `order` names that the run does not have ("has no task 'x'; its tasks: a, b"),
    or "" when the run has it."""
    kinds: list[tuple[str, str, Iterable[str]]] = []  # (what, the name given, the names known)
    if isinstance(order, Skip | Retry | CancelTask | Priority):
        kinds.append(("task", order.task, state.tasks))
    elif isinstance(order, Slots):
        kinds.append(("agent", order.agent, state.agents))
    elif isinstance(order, Pause | Resume) and order.phase:
        kinds.append(("phase", order.phase, state.phases))
    elif isinstance(order, Approve | Reject):
        # gates, amendments at their change gate and agents' tool requests are decided alike
        kinds.append(("gate", order.gate, [*state.gates, *state.changes, *state.permissions]))
    for what, name, known in kinds:
        names = list(known)
        if name not in names:
            return no_such(what, name, names)
    return ""


def no_such(what: str, name: str, known: Iterable[str]) -> str:
    """`has no task 'x'; its tasks: a, b` (the first twenty, and how many more)."""
    names = sorted(known)
    listed = ", ".join(names[:20]) or "none"
    more = f" (and {len(names) - 20} more)" if len(names) > 20 else ""
    return f"has no {what} '{name}'; its {what}s: {listed}{more}"


async def note_after(db_path: str, ref: str, text: str) -> str | None:
    """A note on a run that has ended, recorded by this process (engine/client/feedback); None
    when the run is live (the engine takes the note through its inbox)."""
    from phasegate.engine.client.feedback import note_after_end

    store = await SQLiteStore.open(db_path)
    try:
        return await note_after_end(store, ref, text)
    finally:
        await store.close()


async def command(db_path: str, ref: str, order: Command) -> str:
    """Write the command and wait for the engine's answer."""
    store = await SQLiteStore.open(db_path)
    try:
        row = await live_run(store, ref, "there is nothing to steer", order)
        await check_names(store, row, order)

        def answers(event: ev.Event, sent: int) -> bool:
            if isinstance(event, ev.CommandDone) and event.command == sent:
                # (a cancel taken is answered by the run's end)
                return not (isinstance(order, Cancel) and event.ok)
            return isinstance(order, Cancel) and isinstance(event, ev.RunFinished)

        event = await ask(store, row.id, order, answers)
        if isinstance(event, ev.RunFinished):
            return f"run {row.id}: {event.status}"
        assert isinstance(event, ev.CommandDone)
        if not event.ok:
            raise Refused(f"refused: {event.message}")
        return f"run {row.id}: {event.message}"
    finally:
        await store.close()


async def risks(db_path: str, ref: str, as_json: bool, every: bool) -> str:
    store = await SQLiteStore.open(db_path)
    try:
        row = await resolve_run(store, ref)
        state = project(e for _, e in await store.read_events(row.id))
    finally:
        await store.close()
    found = [r for r in state.risks.values() if every or r.open]
    found.sort(key=lambda r: r.raised_at, reverse=True)
    if as_json:
        return json.dumps({"run": row.id, "risks": [r.as_dict() for r in found]}, indent=2)
    if not found:
        return f"run {row.id}: no {'' if every else 'open '}risks"
    return table(
        ["raised", "severity", "subject", "risk", "suggested action"],
        [
            [
                when(r.raised_at, short=True),
                r.severity,
                safe(r.subject),
                safe(r.message),  # (whole: the table wraps it to the terminal's width)
                safe(r.action) + ("" if r.open else " (cleared)"),
            ]
            for r in found
        ],
    )
