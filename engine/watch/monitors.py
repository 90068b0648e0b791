"""`monitors:`: commands run every N seconds while a run goes (top level) or while one phase is
under way (a phase's `monitors:`, named `PHASE.ID`); a check out of bounds (a non-zero exit, or
the last number printed below `min` or above `max`) is a risk until a check passes or, for a
phase's monitor, until its phase has ended."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import msgspec.structs

from phasegate.engine.exec.argv import command_argv
from phasegate.engine.exec.capture import run_capture
from phasegate.engine.plan.model import Monitor, Plan
from phasegate.engine.watch.risks import Finding

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


async def check(
    m: Monitor, workdir: str, env: dict[str, str], values: dict[str, str]
) -> Finding | None:
    argv, command = command_argv(m.run, values)
    done = await run_capture(argv, workdir, env, m.timeout, keep=50)
    action = f"look at what `{command}` checks"  # (and whether the run goes on: findings())

    def risk(message: str, **evidence: object) -> Finding:
        evidence["command"] = command
        return Finding(
            f"monitor:{m.id}", "monitor", m.severity, f"monitor {m.id}", message, action, evidence
        )

    if done.code != 0:
        why = done.error or (f"exited {done.code}" if done.code is not None else "did not finish")
        return risk(f"check failed: {why}", exit=done.code)
    if m.min is None and m.max is None:
        return None
    numbers = [n for line in done.lines for n in _NUMBER.findall(line)]
    if not numbers:
        return risk("printed no number")
    value = float(numbers[-1])
    low = m.min is not None and value < m.min
    high = m.max is not None and value > m.max
    if low or high:
        bound = f">= {m.min:g}" if low else f"<= {m.max:g}"
        return risk(f"{value:g}, wanted {bound}", value=value, min=m.min, max=m.max)
    return None


class Monitors:
    """Runs each monitor on its own schedule (one check at a time per monitor) and keeps what the
    latest check of each found; `findings()` is read on every tick of the risk rules."""

    @staticmethod
    def of(plan: Plan) -> list[tuple[str, Monitor]]:
        """The plan's monitors with the phase each belongs to ("" for the whole run)."""
        found = [("", m) for m in plan.monitors]
        for phase in plan.phases:
            found += [(phase.id, m.replace(id=f"{phase.id}.{m.id}")) for m in phase.monitors]
        return found

    def __init__(
        self,
        monitors: list[tuple[str, Monitor]],
        workdir: str,
        env: dict[str, str],
        values: dict[str, str],
        clock: Callable[[], float],
    ) -> None:
        self._monitors, self._workdir, self._env, self._values = monitors, workdir, env, values
        self._clock = clock
        self._due = {m.id: 0.0 for _, m in monitors}
        self._scope = {m.id: scope for scope, m in monitors}
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._found: dict[str, Finding] = {}

    def tick(self, phase: str) -> None:
        """Start the checks that are due; a phase's monitors only while `phase` is theirs."""
        now = self._clock()
        for scope, m in self._monitors:
            if scope and scope != phase:
                continue
            if now >= self._due[m.id] and m.id not in self._busy:
                self._due[m.id] = now + m.every
                self._busy[m.id] = asyncio.get_running_loop().create_task(self._run(m))

    async def _run(self, m: Monitor) -> None:
        try:
            found = await check(m, self._workdir, self._env, self._values)
        finally:
            self._busy.pop(m.id, None)
        if found is None:
            self._found.pop(m.id, None)
        else:
            self._found[m.id] = found

    def findings(self, phase: str, goes_on: bool = True) -> list[Finding]:
        """What the latest checks found out of bounds; `goes_on`: the plan's action for the
        `monitor` rule leaves the run going (not `pause` nor `ask`), as the risk then says."""
        found = [f for mid, f in self._found.items() if self._scope[mid] in ("", phase)]
        if not goes_on:
            return found
        return [msgspec.structs.replace(f, action=f"{f.action}; the run goes on") for f in found]

    async def close(self) -> None:
        for task in list(self._busy.values()):
            task.cancel()
        await asyncio.gather(*self._busy.values(), return_exceptions=True)
