"""A cancel (Ctrl-C, SIGTERM, `phasegate cancel`) while an agent's readiness probe runs stops
the probe at once: its process is killed, not waited for until the probe's timeout, and the
run ends cancelled without calling the agent not ready."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.run.loop import Runner

from .helpers import command, run_plan

PLAN = """
name: rdy
agents:
  a: {slots: 1, ready: "sh -c 'echo $$ > probing.pid; exec sleep 100'"}
  b: {slots: 1}
phases:
  - id: p1
    tasks:
      - {id: x, run: "true", agent: a}
      - {id: y, run: "true", agent: b}
"""


async def _until(check: Callable[[], bool], deadline: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not check():
        assert loop.time() < end, "gave up waiting"
        await asyncio.sleep(0.01)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow  # (it waits for processes: seconds)
@pytest.mark.parametrize("how", ["signal", "command"])
async def test_cancel_kills_a_running_probe(tmp_path: Path, how: str) -> None:
    runners: list[Runner] = []
    pidfile = tmp_path / "probing.pid"
    gone: list[bool] = []

    async def operator() -> None:
        await _until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        pid = int(pidfile.read_text())
        if how == "signal":  # (what Ctrl-C and SIGTERM do)
            runners[0].cancel("interrupted by Ctrl-C")
        else:
            assert "error" not in command(runners[0], "cancel", {"reason": "stop"})
        await _until(lambda: _gone(pid))  # (before the probe's 30 s are over)
        gone.append(True)

    helper = asyncio.ensure_future(operator())
    state, store = await run_plan(tmp_path, PLAN, on_runner=runners.append)
    await helper
    assert gone == [True]
    assert state.status is RunStatus.CANCELLED
    assert {t.status for t in state.tasks.values()} == {TaskStatus.CANCELLED}
    events = [e for _, e in await store.read_events("run1")]
    assert not [e for e in events if isinstance(e, ev.AgentProbed)]  # (no "timed out after 30s")
