"""Running a gate inside a run: evaluate its criteria, wait for approvers under policy, time out.

The runner asks `await keeper.run(gate)` after the gate's phase; decisions arrive as commands
(`approve`/`reject`) from any front end and are answered with events naming the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Decision
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import GateStatus
from phasegate.engine.plan.model import Gate
from phasegate.engine.run.gates import (
    artifacts,
    evaluate,
    evidence_hash,
    judge,
    outcome_of,
    stopped,
)
from phasegate.engine.run.notify import RISK

# what `run` returns for a gate the run's stop left waiting: no outcome, never stored (the gate
# stays open, which a report of the ended run calls "not decided"; one whose criteria the stop
# cut short opens so, its evidence naming the criterion killed)
STOPPED = "stopped"


def _the_run_stopped(cancelling: str) -> str:
    """`the run was cancelled by root`, `the run was cancelled (stopped by SIGTERM)`."""
    if not cancelling:
        return "the run was cancelled"
    if cancelling.startswith("cancelled "):
        return f"the run was {cancelling}"
    return f"the run was cancelled ({cancelling})"


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
        self._checking: set[asyncio.Future[list[dict[str, Any]]]] = set()  # criteria under way

    def after(self, phase: str) -> list[Gate]:
        return [g for g in self._gates.values() if g.after == phase]

    async def run(self, gate: Gate) -> tuple[str, str]:
        """Evaluate and decide the gate: (outcome, reason), outcome passed|rejected|failed, or
        STOPPED when the run stopped before anyone decided it."""
        host = self._host
        found = host.state.gates[gate.id]
        if found.status is GateStatus.PASSED:  # (only after a take-over: a rewind resets it)
            return "passed", found.reason
        if found.status is GateStatus.OPEN and gate.approval != "auto":
            # taken over while it waited: the same attempt, its evidence and votes stand
            outcome = outcome_of(gate, found)
            if outcome is not None:
                return self._close(gate, *outcome)
            waited = host.now() - (found.opened_at or host.now())
            return await self._wait(gate, waited)
        attempt = found.attempt + 1
        # (a notify command that failed tells of the people, not of the work: not evidence)
        open_risks = [r for r in host.state.risks.values() if r.open and r.rule != RISK]
        tested = {t.id: t.results for t in host.state.tasks.values() if t.results}
        found_so_far: list[dict[str, Any]] = []
        checking = asyncio.ensure_future(
            evaluate(
                gate.criteria,
                self._workdir,
                self._env(),
                self._values,
                open_risks,
                tested,
                found_so_far,
            )
        )
        self._checking.add(checking)
        try:
            await asyncio.wait({checking})
        finally:
            self._checking.discard(checking)
        if checking.cancelled():
            # the run stopped while its criteria ran: the one under way was killed, a failed
            # check that says so. The gate holds that evidence, undecided (nobody is asked:
            # `auto`), as a gate the stop leaves waiting for people is
            # (none under way yet: the stop came first, the gate stays as it was)
            if found_so_far:
                results = stopped(found_so_far, _the_run_stopped(host.state.cancelling))
                digest = evidence_hash(gate.id, attempt, results)
                host.emit(ev.GateOpened(host.now(), gate.id, attempt, results, digest, "auto"))
            return STOPPED, host.state.cancelling or "the run stopped"
        results = checking.result()
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
        return await self._wait(gate, 0.0)

    def attempts(self, gate: str) -> int:
        """How many times the gate has opened in this run (from the fold)."""
        return self._host.state.gates[gate].attempt

    async def _wait(self, gate: Gate, waited: float) -> tuple[str, str]:
        """Wait for the approvers (and the gate's timeout, less what it `waited` already)."""
        if self._host.state.cancelling:  # (stopped while its criteria ran: nobody can decide)
            return STOPPED, self._host.state.cancelling
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[tuple[str, str]] = loop.create_future()
        self._waiting[gate.id] = decided
        timer = self._arm_timeout(gate, decided, extended=False, waited=waited)
        try:
            outcome, reason = await decided
        finally:
            self._waiting.pop(gate.id, None)
            if timer is not None:
                timer.cancel()
        if outcome == STOPPED:  # no gate.closed: nobody rejected it, and it waited for no one
            return outcome, reason
        return self._close(gate, outcome, reason)

    def cancel_all(self, reason: str) -> None:
        """The run stops: the gates waiting for people are left undecided (still open); the
        criteria being checked are stopped (their commands killed: a criterion may take
        minutes), their gate left undecided with the criterion killed as a failed check."""
        for checking in self._checking:
            checking.cancel()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_result((STOPPED, reason))

    def _arm_timeout(
        self,
        gate: Gate,
        decided: asyncio.Future[tuple[str, str]],
        extended: bool,
        waited: float = 0.0,
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

        return asyncio.get_running_loop().call_later(max(gate.timeout - waited, 0.0), expire)

    def _close(self, gate: Gate, outcome: str, reason: str) -> tuple[str, str]:
        self._host.emit(ev.GateClosed(self._host.now(), gate.id, outcome, reason))
        return outcome, reason

    def decide(self, command: int, order: Decision, who: Identity) -> None:
        """An approve/reject command (number `command` in the inbox): judged under the gate's
        policy, answered with an event naming it."""
        host = self._host
        gate_id, reason, kind = order.gate, order.reason, order.kind.value
        gate = self._gates.get(gate_id)
        state = host.state.gates.get(gate_id)
        if gate is None or state is None:
            known = ", ".join(sorted(self._gates)) or "none"
            why = f"this run has no gate '{gate_id}'; its gates: {known}"
            verdict_ok, verdict_why = False, why
        else:
            verdict = judge(gate, state, who, kind, reason, host.state.user)
            verdict_ok, verdict_why = verdict.accepted, verdict.why
        context = {"host": who.host, "tty": who.tty, "ssh": who.ssh, "reason": reason}
        if not verdict_ok:
            host.emit(
                ev.GateRefused(
                    host.now(),
                    gate_id,
                    kind,
                    who.user,
                    who.uid,
                    verdict_why,
                    command=command,
                    **context,
                )
            )
            return
        assert gate is not None and state is not None
        host.emit(
            ev.GateVoted(
                host.now(),
                gate_id,
                kind,
                who.user,
                who.uid,
                evidence_hash=state.evidence_hash,
                command=command,
                **context,
            )
        )
        waiting = self._waiting.get(gate_id)
        outcome = outcome_of(gate, state)  # (the vote is in the fold now)
        if waiting is not None and not waiting.done() and outcome is not None:
            waiting.set_result(outcome)
