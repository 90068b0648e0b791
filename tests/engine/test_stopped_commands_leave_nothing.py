"""A short command the engine stops waiting for (a monitor's check as the run ends, a gate's
criterion, a research query, a probe, a notify command) is killed with its process group at
once: nothing a run started outlives it (engine/exec/capture.py); and `phasegate doctor` names
any process left with the run's PHASEGATE_RUN_ID, not only a task's."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.durable.doctor import _check_strays
from phasegate.engine.exec.capture import run_capture
from phasegate.engine.model.statuses import RunStatus

from .helpers import run_plan


async def _until(check: Callable[[], bool], deadline: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not check():
        assert loop.time() < end, "gave up waiting"
        await asyncio.sleep(0.01)


def _alive(pid: int) -> bool:
    """A live process (a zombie is not: it has exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _pids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(w) for w in path.read_text().split()]


@pytest.mark.slow  # (it waits for processes: seconds)
async def test_a_cancelled_capture_kills_its_process_group(tmp_path: Path) -> None:
    # the command and a child it started in its group, both for far longer than the test
    script = "sleep 300 & echo $! >> pids; echo $$ >> pids; wait"
    env = dict(os.environ)
    capture = asyncio.ensure_future(run_capture(["sh", "-c", script], str(tmp_path), env, 600))
    await _until(lambda: len(_pids(tmp_path / "pids")) == 2)
    pids = _pids(tmp_path / "pids")
    assert all(_alive(p) for p in pids)
    capture.cancel()
    with pytest.raises(asyncio.CancelledError):
        await capture
    await _until(lambda: not any(_alive(p) for p in pids))  # (not its 300 s, nor its 600 s)


PLAN = """
name: slowmon
agents: {a: {}}
monitors:
  - {id: hangs, run: "sh -c 'echo $$ >> monitor.pids; exec sleep 300'", every: 1s}
phases:
  - id: p1
    tasks:
      - {id: t, agent: a, run: "sh -c 'until test -s monitor.pids; do sleep 0.01; done'"}
"""


@pytest.mark.slow  # (it waits for processes: seconds)
async def test_a_monitor_check_running_as_the_run_ends_is_stopped(tmp_path: Path) -> None:
    state, _ = await run_plan(tmp_path, PLAN)
    assert state.status is RunStatus.SUCCEEDED
    pids = _pids(tmp_path / "monitor.pids")
    assert pids
    # stopped with the run, not left to init for the check's 300 s
    await _until(lambda: not any(_alive(p) for p in pids))


def test_doctor_names_a_process_a_run_left_that_is_no_tasks(tmp_path: Path) -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE runs (id TEXT, finished_at REAL, engine_pid INTEGER, engine_started REAL)"
    )
    db.execute("INSERT INTO runs VALUES ('mon1', 100.0, NULL, NULL)")
    # what a monitor's check (or a notify command) escaping its engine would be: the run's id,
    # no task, in a session of its own
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEGATE_")}
    env["PHASEGATE_RUN_ID"] = "mon1"
    mark = f"300.{os.getpid()}7"
    stray = subprocess.Popen(["sleep", mark], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while mark.encode() not in Path(f"/proc/{stray.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the stray did not start"
            time.sleep(0.01)
        found = {f.check: f for f in _check_strays(db, ":memory:")}
        assert f"stray pid {stray.pid}" in found, found
        detail = found[f"stray pid {stray.pid}"]
        assert detail.level == "warn"
        assert "run mon1 has finished" in detail.detail
        assert f"`sleep {mark}`" in detail.detail and f"`kill {stray.pid}`" in detail.detail
        assert "processes" not in found  # (not "no task process outlives its run")
    finally:
        stray.kill()
        stray.wait()
