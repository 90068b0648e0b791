"""Reaching the people: the plan's `notify:` command, run in the background when a gate or a
question waits for people and when the run ends, with the event as one JSON object on stdin.

The run never waits for it and is never failed by it: a command that fails or outlives its
timeout is a line in the engine's log and a `low` risk (`notify`, cleared by the next one that
works), left out of the gates' `no_risks` evidence. Only the engine's exit waits for the commands
under way, once the run's end is recorded: saying so when that lasts, and stopped (the commands
killed) by a stop of the run (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from phasegate.engine.exec.argv import command_argv
from phasegate.engine.exec.capture import Captured, run_capture
from phasegate.engine.logline import safe
from phasegate.engine.model import events as ev
from phasegate.engine.model.state import RunState
from phasegate.engine.run.host import Host

NOTIFY_TIMEOUT = 30.0
SAY_AFTER = 1.0  # a wait for the commands at the engine's exit longer than this is said
RISK = "notify"  # the key and the rule of the risk a failing command raises
# stdin is the event's file: the command's own argv follows, each word as it is
_STDIN = ["/bin/sh", "-c", 'exec "$@" < "$PHASEGATE_EVENT_FILE"', "phasegate-notify"]


def message(event: ev.Event, state: RunState) -> dict[str, Any] | None:
    """What the notify command is told of an event (None: nothing people need to hear)."""
    run = state.run_id
    base: dict[str, Any] = {
        "kind": "",
        "run_id": run,
        "plan": state.plan_name,
        "time": event.ts,
        "time_iso": datetime.fromtimestamp(event.ts, UTC).isoformat(timespec="seconds"),
        "started_by": state.user,
        "gate": None,
        "attempt": None,
        "after": None,
        "approvers": None,
        "quorum": None,
        "question": None,
        "status": None,
        "reason": None,
        "risk": None,
        "criteria": None,
        "forbid_self_approval": None,
    }  # (every kind has every field: those that do not apply are null, as the README says)
    if isinstance(event, ev.GateOpened) and event.approval == "manual":
        gate = state.gates.get(event.gate)
        return {
            **base,
            "kind": "gate.opened",
            "gate": event.gate,
            "attempt": event.attempt,
            "after": gate.after if gate else None,
            "approvers": list(gate.approvers) if gate else [],
            "quorum": gate.quorum if gate else 1,
            "forbid_self_approval": gate.forbid_self_approval if gate else False,
            "criteria": event.criteria,
            "hint": f"phasegate approve {run} {event.gate}",
        }
    if isinstance(event, ev.RunPaused) and event.ask and not event.phase:
        return {
            **base,
            "kind": "question.asked",
            "question": event.reason,
            "risk": event.ask,
            "hint": f"phasegate resume {run}",
        }
    if isinstance(event, ev.RunFinished):
        return {
            **base,
            "kind": "run.finished",
            "status": event.status,
            "reason": event.reason,
            "hint": f"phasegate show {run}",
        }
    return None


class Notifier:
    """Listens to the run's events (it adds itself to `listeners`) and runs the plan's
    `notify:` command for those people need to hear of, each in the background."""

    def __init__(
        self,
        host: Host,
        listeners: list[Any],
        workdir: str,
        env: dict[str, str],
        values: dict[str, str],
        redact: Callable[[str], str] = str,
    ) -> None:
        """`redact`: what the engine's own warning goes through (the command's error may
        print a secret)."""
        self._host, self._workdir, self._env, self._values = host, workdir, env, values
        self._redact = redact
        self._command = host.plan.notify
        self._under_way: dict[asyncio.Task[None], float] = {}  # each with its deadline
        self._stopped = False
        if self._command:
            listeners.append(self.saw)

    def saw(self, event: ev.Event) -> None:
        told = message(event, self._host.state)
        if told is None:
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._tell(told))
        self._under_way[task] = loop.time() + NOTIFY_TIMEOUT + 1  # (+ TERM to KILL)
        task.add_done_callback(self._gone)

    @property
    def busy(self) -> bool:
        """Commands are under way."""
        return bool(self._under_way)

    def _gone(self, task: asyncio.Task[None]) -> None:
        self._under_way.pop(task, None)

    def stop(self) -> None:
        """Kill the commands under way (their process groups, at once)."""
        self._stopped = True
        for task in self._under_way:
            task.cancel()

    async def close(self) -> None:
        """Wait for the commands under way (each ends within NOTIFY_TIMEOUT; `stop`, a stop of
        the run, kills them at once); a wait that lasts says so, on one line."""
        pending = set(self._under_way)
        if not pending:
            return
        _, pending = await asyncio.wait(pending, timeout=SAY_AFTER)
        if not pending:
            return
        state, now = self._host.state, asyncio.get_running_loop().time()
        left = max(self._under_way.get(t, now) for t in pending) - now
        ended = f"run {state.run_id} {state.status.value}; " if state.finished_at else ""
        said = f"phasegate: {ended}waiting for notify ({max(1, math.ceil(left))} s at most)"
        print(said, file=sys.stderr, flush=True)
        await asyncio.gather(*pending, return_exceptions=True)

    async def _tell(self, told: dict[str, Any]) -> None:
        assert self._command is not None
        argv, command = command_argv(self._command, self._values)
        import tempfile  # (only when a notification is sent: not at start-up)

        fd, path = tempfile.mkstemp(prefix="phasegate-notify-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(told) + "\n")
            env = {**self._env, "PHASEGATE_EVENT": told["kind"], "PHASEGATE_EVENT_FILE": path}
            done = await run_capture([*_STDIN, *argv], self._workdir, env, NOTIFY_TIMEOUT)
        except asyncio.CancelledError:
            if self._stopped:
                text = f"stopped the notify command `{command}` ({told['kind']} not told)"
                print(f"phasegate: {safe(self._redact(text))}", file=sys.stderr, flush=True)
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._record(command, told["kind"], done)

    def _record(self, command: str, kind: str, done: Captured) -> None:
        host = self._host
        risk = host.state.risks.get(RISK)
        live = host.state.finished_at is None  # (no event after the run's end)
        if done.code == 0:
            if live and risk is not None and risk.open:
                host.emit(ev.RiskCleared(host.now(), RISK, "the notify command worked again"))
            return
        why = f"exit {done.code}: {done.error}" if done.code is not None else done.error
        text = f"the notify command `{command}` failed on {kind} ({why})"
        print(f"phasegate: warning: {safe(self._redact(text))}", file=sys.stderr, flush=True)
        if live and (risk is None or not risk.open):
            host.emit(
                ev.RiskRaised(
                    host.now(),
                    RISK,
                    RISK,
                    "low",
                    "run",
                    text,
                    "fix the plan's notify command: people may not hear that the run waits",
                    {"exit_code": done.code},
                )
            )
