"""What front ends use to talk to runs: send a typed command to a run's engine as the OS user of
this process (never a claimed name), with where it was sent from."""

from __future__ import annotations

import time

from engine.model.commands import Command, args_of
from engine.model.identity import current_identity
from engine.store.base import Store


async def send(store: Store, run_id: str, command: Command) -> int:
    """Put the command in the run's inbox; the engine judges it and answers with an event
    naming the returned id."""
    who = current_identity()
    context = {"uid": who.uid, "host": who.host, "tty": who.tty, "ssh": who.ssh}
    return await store.put_command(
        run_id, command.kind.value, {**args_of(command), **context}, who.user, time.time()
    )
