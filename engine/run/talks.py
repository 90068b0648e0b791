"""Coding agents' conversations, a part of the run: what each line a CLI prints means (the
task's transcript, its usage), what the engine writes back, and the tool requests a person
answers. Those are routed like gates: listed by `phasegate gates`, answered with `approve` or
`reject` (or the dashboard), judged on the sender's verified uid against the request's
approvers (default: whoever may operate the run), audited as gate votes, and denied when
nobody answers within the plan's timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.agents.talk import Ask, Talk
from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import Identity
from phasegate.engine.run.gates import may_decide
from phasegate.engine.run.roles import may_operate

if TYPE_CHECKING:
    from phasegate.engine.run.host import Host

DEFAULT_TIMEOUT = 600.0


class _Open(msgspec.Struct):
    attempt: Any  # the run's _Attempt (attempts.py)
    talk: Talk
    ask: Ask
    timer: asyncio.TimerHandle | None = None


class Talks:
    def __init__(self, host: Host, show: Callable[[Any, str, str], None]) -> None:
        self._host, self._show = host, show
        self._open: dict[str, _Open] = {}
        self._always: dict[int, dict[str, str]] = {}  # id(attempt) -> tool -> who allowed it
        self._failures: dict[int, str] = {}  # id(attempt) -> why the agent said it failed

    def start(self, attempt: Any) -> None:
        """The CLI runs: send it the handshake and the prompt."""
        for line in attempt.talk.opening():
            attempt.handle.write(line.encode() + b"\n")

    def line(self, attempt: Any, stream: str, text: str) -> None:
        talk: Talk = attempt.talk
        said = talk.read(stream, text)
        always = self._always.get(id(attempt), {})
        # (a tool a person allowed for the rest of the task is not said to wait: it is answered)
        answered = {a.waiting(): f"? {a.tool}: {a.detail}" for a in said.asks if a.tool in always}
        for shown in said.show:
            self._show(attempt, stream, answered.get(shown, shown))
        host = self._host
        for event in said.events:
            host.emit(event.replace(ts=host.now()))
        for reply in said.write:
            attempt.handle.write(reply.encode() + b"\n")
        for ask in said.asks:
            self._ask(attempt, ask)
        if said.failure:
            self._failures[id(attempt)] = said.failure
        if said.close:
            attempt.handle.close_stdin()

    def failure(self, attempt: Any) -> str:
        return self._failures.pop(id(attempt), "")

    def ended(self, attempt: Any) -> None:
        """The attempt's process is gone: what it asked and nobody answered is closed."""
        self._always.pop(id(attempt), None)
        for pid, found in list(self._open.items()):
            if found.attempt is attempt:
                self._close(pid, False, "engine", -1, "the task ended before an answer")

    def _ask(self, attempt: Any, ask: Ask) -> None:
        host = self._host
        talk: Talk = attempt.talk
        talk.asked += 1
        pid = f"{attempt.task.id}-{attempt.number}-p{talk.asked}"
        allowed_by = self._always.get(id(attempt), {}).get(ask.tool)
        rules = host.plan.agents[attempt.agent].permissions
        approvers = list(rules.approvers) if rules else []
        host.emit(
            ev.PermissionAsked(
                host.now(),
                pid,
                attempt.task.id,
                attempt.number,
                ask.tool,
                ask.detail,
                ask.reason,
                approvers,
            )
        )
        found = self._open[pid] = _Open(attempt, talk, ask)
        if allowed_by is not None:  # a person allowed this tool for the rest of the task
            self._close(pid, True, allowed_by, -1, "allowed for the rest of the task")
            return
        timeout = rules.timeout if rules else DEFAULT_TIMEOUT
        found.timer = asyncio.get_running_loop().call_later(
            timeout,
            self._close,
            pid,
            False,
            "timeout",
            -1,
            f"nobody answered within {timeout:g}s",
        )

    def decide(self, command: int, order: cmd.Approve | cmd.Reject, who: Identity) -> None:
        """A person's answer (approve: allow, reject: deny, its reason going to the agent)."""
        host = self._host
        pid, kind = order.gate, order.kind.value
        state = host.state.permissions.get(pid)
        why = ""
        if state is None or pid not in self._open:
            shown = state.status if state is not None else "unknown"
            why = f"permission request {pid} is not waiting for an answer ({shown})"
        elif state.approvers and not may_decide(state.approvers, who.user):
            why = f"{who.user} may not answer {pid}; approvers: {', '.join(state.approvers)}"
        elif not state.approvers and not may_operate(host.state, who.user):
            why = f"{who.user} may not answer {pid}: only who may operate the run can"
        elif isinstance(order, cmd.Approve) and order.scope not in ("", "task"):
            why = f"unknown scope '{order.scope}'; allowed: task (the rest of the task)"
        context = {"host": who.host, "tty": who.tty, "ssh": who.ssh, "reason": order.reason}
        if why:
            host.emit(
                ev.GateRefused(
                    host.now(), pid, kind, who.user, who.uid, why, command=command, **context
                )
            )
            return
        host.emit(
            ev.GateVoted(host.now(), pid, kind, who.user, who.uid, command=command, **context)
        )
        allowed = isinstance(order, cmd.Approve)
        message = order.reason or ("" if allowed else f"denied by {who.user}")
        if isinstance(order, cmd.Approve) and order.scope == "task":
            attempt = self._open[pid].attempt
            self._always.setdefault(id(attempt), {})[self._open[pid].ask.tool] = who.user
        self._close(pid, allowed, who.user, who.uid, message)

    def _close(self, pid: str, allowed: bool, by: str, uid: int, message: str) -> None:
        found = self._open.pop(pid, None)
        if found is None:
            return
        if found.timer is not None:
            found.timer.cancel()
        host = self._host
        host.emit(ev.PermissionAnswered(host.now(), pid, allowed, by, uid, message))
        found.attempt.handle.write(found.talk.answer(found.ask, allowed, message).encode() + b"\n")
        mark, verb = ("✓", "allowed") if allowed else ("✗", "denied")
        said = f"{verb} by {by}"
        if message and message != said:  # (a deny without a reason says only that)
            said += f": {message}"
        self._show(found.attempt, "out", f"{mark} {found.ask.tool}: {said}")
