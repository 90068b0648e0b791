"""Running a gate inside a run: evaluate its criteria, wait for approvers under policy, time out.

The runner asks `await keeper.run(gate)` after the gate's phase; decisions arrive as commands
(`approve`/`reject`) from any front end and are answered with events naming the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from engine.model import events as ev
from engine.model.identity import Identity
from engine.model.state import RunState
from engine.plan.model import Gate
from engine.run.gates import artifacts, evaluate, evidence_hash, judge
from engine.store.base import Command


class Host(Protocol):
    """What the gatekeeper needs of the runner."""

    state: RunState

    def emit(self, event: ev.Event) -> None: ...

    def now(self) -> float: ...


class GateKeeper:
    def __init__(
        self,
        host: Host,
        gates: list[Gate],
        workdir: str,
        env: Callable[[], dict[str, str]],
        values: dict[str, str],
        outputs: dict[str, list[str]] | None = None,
    ) -> None:
        self._host = host
        self._outputs = outputs or {}  # phase -> its tasks' declared outputs
        self._gates = {g.id: g for g in gates}
        self._workdir = workdir
        self._env = env
        self._values = values
        self._waiting: dict[str, asyncio.Future[tuple[str, str]]] = {}
        self.attempts: dict[str, int] = {}

    def after(self, phase: str) -> list[Gate]:
        return [g for g in self._gates.values() if g.after == phase]

    async def run(self, gate: Gate) -> tuple[str, str]:
        """Evaluate and decide the gate: (outcome, reason), outcome passed|rejected|failed."""
        host = self._host
        attempt = self.attempts[gate.id] = self.attempts.get(gate.id, 0) + 1
        open_risks = [r for r in host.state.risks.values() if r.cleared_at is None]
        results = await evaluate(
            gate.criteria, self._workdir, self._env(), self._values, open_risks
        )
        failed = [r for r in results if not r["passed"]]
        # the phase's declared outputs are part of the evidence (informative: the hand-off
        # check already failed any task that did not produce them)
        results += artifacts(self._outputs.get(gate.after, []), self._workdir)
        digest = evidence_hash(gate.id, attempt, results)
        host.emit(ev.GateOpened(host.now(), gate.id, attempt, results, digest, gate.approval))
        if gate.approval == "auto":
            if failed:
                reason = "; ".join(f"{r['kind']} {r['spec']}: {r['detail']}" for r in failed)
                return self._close(gate, "failed", f"criteria failed: {reason}")
            return self._close(gate, "passed", "every criterion passed")
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[tuple[str, str]] = loop.create_future()
        self._waiting[gate.id] = decided
        timer = self._arm_timeout(gate, decided, extended=False)
        try:
            outcome, reason = await decided
        finally:
            self._waiting.pop(gate.id, None)
            if timer is not None:
                timer.cancel()
        return self._close(gate, outcome, reason)

    def cancel_all(self, reason: str) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_result(("rejected", reason))

    def _arm_timeout(
        self, gate: Gate, decided: asyncio.Future[tuple[str, str]], extended: bool
    ) -> asyncio.TimerHandle | None:
        if gate.timeout is None:
            return None

        def expire() -> None:
            if decided.done():
                return
            waited = f"no decision within {gate.timeout:g}s"
            if gate.on_timeout == "approve":
                decided.set_result(("passed", f"{waited}: approved by its on_timeout rule"))
            elif gate.on_timeout == "extend" and not extended:
                self._arm_timeout(gate, decided, extended=True)
            else:
                decided.set_result(("rejected", f"{waited}: rejected by its on_timeout rule"))

        return asyncio.get_running_loop().call_later(gate.timeout, expire)

    def _close(self, gate: Gate, outcome: str, reason: str) -> tuple[str, str]:
        self._host.emit(ev.GateClosed(self._host.now(), gate.id, outcome, reason))
        return outcome, reason

    def decide(self, command: Command) -> None:
        """An approve/reject command: judged under the gate's policy, answered with an event."""
        host = self._host
        args: dict[str, Any] = command.args
        gate_id = str(args.get("gate", ""))
        reason = str(args.get("reason") or "")
        who = Identity(
            command.author,
            int(args.get("uid", -1)),
            str(args.get("host", "")),
            str(args.get("tty", "")),
            str(args.get("ssh", "")),
        )
        gate = self._gates.get(gate_id)
        state = host.state.gates.get(gate_id)
        if gate is None or state is None:
            known = ", ".join(sorted(self._gates)) or "none"
            why = f"this run has no gate '{gate_id}'; its gates: {known}"
            verdict_ok, verdict_why = False, why
        else:
            verdict = judge(gate, state, who, command.kind, reason, host.state.user)
            verdict_ok, verdict_why = verdict.accepted, verdict.why
        context = {"host": who.host, "tty": who.tty, "ssh": who.ssh, "reason": reason}
        if not verdict_ok:
            host.emit(
                ev.GateRefused(
                    host.now(),
                    gate_id,
                    command.kind,
                    who.user,
                    who.uid,
                    verdict_why,
                    command=command.id,
                    **context,
                )
            )
            return
        assert gate is not None and state is not None
        host.emit(
            ev.GateVoted(
                host.now(),
                gate_id,
                command.kind,
                who.user,
                who.uid,
                evidence_hash=state.evidence_hash,
                command=command.id,
                **context,
            )
        )
        decided = self._waiting.get(gate_id)
        if decided is None or decided.done():
            return
        if command.kind == "reject":
            decided.set_result(("rejected", f"rejected by {who.user}: {reason}"))
        elif len(state.approved_by) >= gate.quorum:
            decided.set_result(("passed", f"approved by {', '.join(state.approved_by)}"))
