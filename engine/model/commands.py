"""Writing intents into a run's inbox as the OS user of this process (never a claimed name)."""

from __future__ import annotations

import time

from engine.model.identity import current_identity
from engine.store.base import Store


async def send_decision(store: Store, run_id: str, gate: str, decision: str, reason: str) -> int:
    """An approve/reject command with who decides and from where; the engine judges it."""
    who = current_identity()
    args = {
        "gate": gate,
        "reason": reason,
        "uid": who.uid,
        "host": who.host,
        "tty": who.tty,
        "ssh": who.ssh,
    }
    return await store.put_command(run_id, decision, args, who.user, time.time())


async def send_command(store: Store, run_id: str, kind: str, args: dict[str, object]) -> int:
    """An operator command (skip, cancel_task, pause, resume, note, cancel) as this OS user."""
    who = current_identity()
    return await store.put_command(
        run_id, kind, {**args, "uid": who.uid, "host": who.host}, who.user, time.time()
    )
