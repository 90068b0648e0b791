"""The run's inbox, a part of the run: claims the commands front ends wrote for the run, each
once, reads each back into its type and hands it to the part that acts on it (a cancel to the
loop, a decision to the gatekeeper, the rest to operator control). A command that cannot be
read is refused with the reason; a decision refused so is audited like any other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import StoreBusy
from phasegate.engine.model.identity import Identity

if TYPE_CHECKING:
    from phasegate.engine.run.control import OperatorControl
    from phasegate.engine.run.gatekeeper import GateKeeper
    from phasegate.engine.run.host import Host
    from phasegate.engine.store.base import Command, Store

POLL = 0.25  # seconds between two reads of the inbox


class Inbox:
    def __init__(
        self,
        host: Host,
        store: Store,
        control: OperatorControl,
        keeper: GateKeeper,
        cancel: Callable[[str], None],
    ) -> None:
        self._host, self._store = host, store
        self._control, self._keeper, self._cancel = control, keeper, cancel

    async def read(self, closing: asyncio.Event) -> None:
        """Claim and act on commands until `closing` is set. Stopped between two reads: a
        claim is never cut off half-way (claimed commands would be lost)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), POLL)
            if closing.is_set():
                return
            run_id = self._host.state.run_id
            try:
                claimed = await self._store.claim_commands(run_id, self._host.now())
            except StoreBusy:  # another process holds the database: the next poll will do
                continue
            for command in claimed:
                self.take(command)

    async def refuse_rest(self) -> None:
        """The run has ended: what is left in the inbox is answered (refused), never left
        waiting."""
        host = self._host
        why = f"the run has ended ({host.state.status.value}); nothing was done"
        for command in await self._store.claim_commands(host.state.run_id, host.now()):
            self._refuse(command, why)

    def take(self, command: Command) -> None:
        """One command, dispatched on its type; a bad one is refused."""
        host, by = self._host, command.author
        try:
            order = cmd.parse(command.kind, command.args)
        except cmd.BadCommand as exc:
            self._refuse(command, str(exc))
            return
        if isinstance(order, cmd.Cancel):
            self._cancel(order.reason or f"cancelled by {by}")
        elif isinstance(order, cmd.Approve | cmd.Reject):
            self._keeper.decide(command.id, order, _sender(command))
        else:
            ok, message = self._control.handle(order, by)
            host.emit(ev.CommandDone(host.now(), command.id, command.kind, by, ok, message))

    def _refuse(self, command: Command, why: str) -> None:
        """Answer a command with a refusal; a decision's refusal is an audit row."""
        host, by = self._host, command.author
        if command.kind in (cmd.Kind.APPROVE, cmd.Kind.REJECT):
            who = _sender(command)
            context = {"host": who.host, "tty": who.tty, "ssh": who.ssh}
            gate = str(command.args.get("gate", ""))
            refused = ev.GateRefused(
                host.now(), gate, command.kind, by, who.uid, why, command=command.id, **context
            )
            host.emit(refused)
        else:
            host.emit(ev.CommandDone(host.now(), command.id, command.kind, by, False, why))


def _sender(command: Command) -> Identity:
    """Who sent a command and from where, as its client wrote it (the OS-verified identity
    comes with the run's socket)."""
    args = command.args
    return Identity(
        command.author,
        _int(args.get("uid"), -1),
        str(args.get("host", "")),
        str(args.get("tty", "")),
        str(args.get("ssh", "")),
    )


def _int(value: object, default: int) -> int:
    """A number a client wrote, or `default` when it is not one."""
    try:
        return int(str(value))
    except ValueError:
        return default
