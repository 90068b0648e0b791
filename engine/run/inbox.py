"""The run's inbox, a part of the run: takes the commands that reach the engine through its
socket (run/channel.py), each with the sender the kernel vouched for, reads each into its type
and hands it to the part that acts on it (a cancel to the loop, a decision to the gatekeeper,
the rest to operator control, if the plan's roles let the sender operate). Every command is
answered with an event naming it, carrying the sender's uid: an audit row. A command that
cannot be read, or arrives after the run has ended, is refused with the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import Identity
from phasegate.engine.run import feedback
from phasegate.engine.run.roles import may_operate

if TYPE_CHECKING:
    from phasegate.engine.run.amend import Amendments
    from phasegate.engine.run.control import OperatorControl
    from phasegate.engine.run.gatekeeper import GateKeeper
    from phasegate.engine.run.host import Host
    from phasegate.engine.run.talks import Talks


class Inbox:
    def __init__(
        self,
        host: Host,
        control: OperatorControl,
        keeper: GateKeeper,
        cancel: Callable[[str], None],
        talks: Talks | None = None,
        amend: Amendments | None = None,
    ) -> None:
        self._host, self._talks, self._amend = host, talks, amend
        self._control, self._keeper, self._cancel = control, keeper, cancel
        self._last = 0  # the last command number given (the fold's, after a take-over)
        self.closed = ""  # why commands are refused now (the run has ended)

    def submit(self, kind: str, args: dict[str, Any], who: Identity) -> dict[str, Any]:
        """One command from `who`: numbered, acted on and answered (with an event naming the
        number) before this returns; the answer for the sender is {"id": number}."""
        host = self._host
        self._last = number = max(self._last, host.state.last_command) + 1
        if self.closed or host.state.finished_at is not None:
            why = self.closed or f"the run has ended ({host.state.status.value})"
            self._refuse(number, kind, args, who, f"{why}; nothing was done")
            return {"id": number}
        try:
            order = cmd.parse(kind, args)
        except cmd.BadCommand as exc:
            self._refuse(number, kind, args, who, str(exc))
            return {"id": number}
        if isinstance(order, cmd.Approve | cmd.Reject):
            if self._talks is not None and order.gate in host.state.permissions:
                self._talks.decide(number, order, who)  # (an agent's tool request)
            elif self._amend is not None and order.gate in host.state.changes:
                self._amend.decide(number, order, who)  # (an amendment's change gate)
            else:
                self._keeper.decide(number, order, who)
            return {"id": number}
        if isinstance(order, cmd.Feedback):  # (those the plan's feedback section asks)
            rating = order.rating or None
            given = feedback.answer(
                host.state, who, host.now(), rating, order.comment, order.answers, number
            )
            if isinstance(given, str):
                self._refuse(number, kind, args, who, given)
            else:
                host.emit(given)
            return {"id": number}
        starter = host.state.user
        if not may_operate(host.state, who.user):
            why = _not_operator(who.user, host.state.operators, starter)
            self._refuse(number, kind, args, who, why)
            return {"id": number}
        if isinstance(order, cmd.Amend) and self._amend is not None:
            ok, message = self._amend.propose(number, order, who)
            self._answer(number, kind, args, who, ok, message)
        elif isinstance(order, cmd.Cancel):
            reason = order.reason or f"cancelled by {who.user}"
            self._answer(number, kind, args, who, True, reason)
            self._cancel(reason)
        else:
            ok, message = self._control.handle(order, who.user)
            self._answer(number, kind, args, who, ok, message)
        return {"id": number}

    def _answer(
        self, number: int, kind: str, args: dict[str, Any], who: Identity, ok: bool, message: str
    ) -> None:
        """The command's audit row: the engine's answer beside the operator's own reason (as
        sent) and where the sender is, as the socket vouched for it."""
        reason = args.get("reason")
        on = next((f"{k} {args[k]}" for k in ("task", "agent", "phase") if args.get(k)), "")
        for key in ("slots", "priority"):  # (what was asked, kept in a refused row too)
            if args.get(key) is not None:
                on += f" ({key} {args[key]})"
        host = self._host
        host.emit(
            ev.CommandDone(
                host.now(),
                number,
                kind,
                who.user,
                ok,
                message,
                who.uid,
                reason="" if reason is None else str(reason),
                host=who.host,
                tty=who.tty,
                ssh=who.ssh,
                target=on,
            )
        )

    def _refuse(
        self, number: int, kind: str, args: dict[str, Any], who: Identity, why: str
    ) -> None:
        """Answer a command with a refusal; a decision's refusal is a gate's audit row."""
        host = self._host
        if kind in (cmd.Kind.APPROVE, cmd.Kind.REJECT):
            context = {"host": who.host, "tty": who.tty, "ssh": who.ssh}
            gate = str(args.get("gate", ""))
            refused = ev.GateRefused(
                host.now(), gate, kind, who.user, who.uid, why, command=number, **context
            )
            host.emit(refused)
        else:
            self._answer(number, kind, args, who, False, why)


def _not_operator(user: str, operators: list[str], starter: str) -> str:
    allowed = [starter, *operators]
    return (
        f"{user} may observe this run but not operate it; operators: "
        f"{', '.join(dict.fromkeys(allowed))} (the plan's roles.operators)"
    )
