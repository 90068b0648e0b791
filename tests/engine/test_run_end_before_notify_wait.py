"""The run's end is recorded (its events and its `runs` row) before the engine waits for a slow
`notify:` command; that wait says so on one line, and a stop of the run (Ctrl-C, SIGTERM) ends
it at once, the command killed (engine/run/notify.py, engine/run/loop.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.model.statuses import RunStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import run_plan

PLAN = """
name: slownotify
notify: "sh -c 'echo $$ >> notify.pids; exec sleep 300'"
agents: {a: {}}
phases:
  - id: p1
    tasks:
      - {id: t, agent: a, run: "TASK"}
"""


async def _until(check: Callable[[], bool], deadline: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not check():
        assert loop.time() < end, "gave up waiting"
        await asyncio.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 :].split()[0] not in (b"Z", b"X")


@pytest.mark.slow  # (it waits for processes: seconds)
@pytest.mark.parametrize("ended", ["succeeded", "cancelled"])
async def test_the_end_is_recorded_before_notify_is_waited_for_and_ctrl_c_ends_the_wait(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], ended: str
) -> None:
    """`cancelled`: the run was stopped by a first Ctrl-C; a second one ends the wait."""
    store = MemoryStore()
    runners: list[Runner] = []
    pids = tmp_path / "notify.pids"
    said: list[str] = []
    rows: list[object] = []

    async def person() -> None:
        if ended == "cancelled":
            await _until(lambda: bool(runners) and "t" in runners[0].state.tasks)
            await _until(lambda: runners[0].state.tasks["t"].status.value == "running")
            runners[0].cancel("interrupted by Ctrl-C")
        await _until(lambda: bool(runners) and pids.exists() and pids.read_text().strip() != "")
        row = await store.get_run("run1")
        deadline = asyncio.get_running_loop().time() + 15
        while row is None or row.finished_at is None:  # (the engine still waits for notify)
            assert asyncio.get_running_loop().time() < deadline, f"`runs` still says {row}"
            await asyncio.sleep(0.01)
            row = await store.get_run("run1")
        rows.append(row)

        def told() -> bool:
            said.append(capfd.readouterr().err)
            return "waiting for notify (" in "".join(said)

        await _until(told)
        runners[0].cancel("interrupted by Ctrl-C")  # (what the host does on Ctrl-C)

    helper = asyncio.ensure_future(person())
    task = "true" if ended == "succeeded" else "sleep 300"
    plan = PLAN.replace("TASK", task)
    state, _ = await run_plan(tmp_path, plan, store=store, on_runner=runners.append)
    await helper
    assert state.status is RunStatus(ended)
    row = rows[0]
    assert getattr(row, "status", None) == ended  # `runs` said it as the wait began
    line = next(x for x in "".join(said).splitlines() if "waiting for notify" in x)
    assert line.startswith(f"phasegate: run run1 {ended}; waiting for notify (")
    assert line.endswith(" s at most)")
    pid = int(pids.read_text().split()[0])
    assert not _alive(pid)  # killed by the stop, not left for its 300 s
