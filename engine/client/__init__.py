"""What front ends use of the engine: open a store, find and read runs, send a command as the OS
user this process runs as and wait for the engine's answer. Its modules: `engines` (start an
engine for a run, or host one here), `plans` (load, validate, dry-run a plan) and `reports`.

The front ends (tui/) import this package and engine.model only (import-linter says so);
what the engine does behind it may move without their noticing. Heavy parts (the plan model, the
reports) are in the submodules, imported when a command needs them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from phasegate.engine.exec.group import same_process as same_process
from phasegate.engine.logline import counts_text as counts_text
from phasegate.engine.logline import log_line as log_line
from phasegate.engine.logline import paint as paint
from phasegate.engine.logline import safe as safe
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Command, args_of
from phasegate.engine.model.errors import PhasegateError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.store import SQLiteStore as SQLiteStore
from phasegate.engine.store.base import RunRow as RunRow
from phasegate.engine.store.base import Store
from phasegate.engine.store.base import resolve_run as resolve_run
from phasegate.engine.store.paths import new_run_id as new_run_id
from phasegate.engine.store.paths import run_dir as run_dir
from phasegate.engine.store.sqlite import default_db_path as default_db_path

ANSWER_TIMEOUT = 30.0
ANSWER_POLL = 0.1
ENDED_GRACE = 2.0  # after the run's end, the engine answers what is left in its inbox


class NoAnswer(PhasegateError):
    """The engine did not answer a command in time (exit 1)."""


def engine_alive(row: RunRow) -> bool:
    """Is the run's engine process still the one that took the lease?"""
    return same_process(row.engine_pid, row.engine_started)


async def send(store: Store, run_id: str, command: Command) -> int:
    """Put the command in the run's inbox; the engine judges it and answers with an event
    naming the returned id."""
    who = current_identity()
    context = {"uid": who.uid, "host": who.host, "tty": who.tty, "ssh": who.ssh}
    return await store.put_command(
        run_id, command.kind.value, {**args_of(command), **context}, who.user, time.time()
    )


async def ask(
    store: Store,
    run_id: str,
    command: Command,
    answers: Callable[[ev.Event, int], bool],
    timeout: float = ANSWER_TIMEOUT,
) -> ev.Event:
    """Send the command and wait for the event that answers it (`answers(event, sent id)`)."""
    seen = await store.read_events(run_id)
    cursor = seen[-1][0] if seen else 0
    sent = await send(store, run_id, command)
    deadline = time.monotonic() + timeout
    over = any(isinstance(e, ev.RunFinished) for _, e in reversed(seen))
    ended: float | None = time.monotonic() if over else None  # when the run's end was seen
    while time.monotonic() < deadline:
        fresh = await store.read_events(run_id, cursor)
        if fresh:
            cursor = fresh[-1][0]
        for _, event in fresh:
            if answers(event, sent):
                return event
            if isinstance(event, ev.RunFinished) and ended is None:
                ended = time.monotonic()
        if ended is not None and time.monotonic() - ended > ENDED_GRACE:
            raise NoAnswer(
                f"run {run_id} ended before its engine took the command; nothing was done"
            )
        await asyncio.sleep(ANSWER_POLL)
    raise NoAnswer(
        f"the engine of run {run_id} did not answer within {timeout:g}s; "
        "check it with `phasegate show`"
    )
