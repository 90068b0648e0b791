"""An attempt lost with its SSH connection (the host unreachable for longer than
`ssh.connect_timeout`) is not left running beside its retry: the retry's connection stops the
lost attempt's process group on the host first; a host that cannot be reached is not run on
blind, and the failure says the lost attempt may still be running there, with its pid."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.store import MemoryStore

from ..engine.helpers import run_plan
from .conftest import Sshd, stop_left


async def _until(what: str, check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _pid_of(run_id: str, task: str, attempt: int) -> int:
    """The attempt's wrapper pid (its process group), from its pid file on the host (here)."""
    path = Path.home() / ".phasegate" / "runs" / run_id / f"{task}-{attempt}" / "pid"
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else 0


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is in the process group."""
    for p in psutil.process_iter(["status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            pass
    return False


async def _first_attempt_told(store: MemoryStore, run_id: str) -> int:
    """Attempt 1 runs on the host and the engine has its pid (its session's first line came
    before the task's `started`): the pid."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        said = [o.text for o in await store.read_output(run_id, "long", 1)]
        if "started" in said and _pid_of(run_id, "long", 1):
            return _pid_of(run_id, "long", 1)
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting for attempt 1 on the host")


def _plan(sshd: Sshd, log: Path, flag: Path, backoff: str) -> str:
    # attempt 1 runs for a minute; a later one waits for the test's flag
    run = (
        f"echo $PHASEGATE_ATTEMPT >> {log}; echo started; [ $PHASEGATE_ATTEMPT != 1 ] || sleep 60; "
        f"while [ ! -e {flag} ]; do sleep 0.05; done"
    )
    return f"""
    name: remote
    agents:
      far: {{{sshd.agent_yaml(connect_timeout="1s")}}}
    phases:
      - id: one
        tasks:
          - id: long
            run: "{run}"
            retries: 1
            backoff: {backoff}
    """


@pytest.mark.slow
async def test_regression_a_retry_after_a_lost_connection_stops_the_lost_attempt_first(
    sshd: Sshd, tmp_path: Path, run_id: str
) -> None:
    """Regression: the retry of an attempt lost with its connection ran beside it on the host."""
    flag, log = tmp_path / "go", tmp_path / "ran.log"
    store = MemoryStore()
    runners: list[Any] = []
    seen: dict[str, Any] = {}

    def given_up() -> bool:
        t = runners[0].state.tasks["long"]
        return t.status is TaskStatus.READY and "lost" in t.reason

    async def cut_then_back() -> None:
        seen["pgid"] = await _first_attempt_told(store, run_id)
        await asyncio.to_thread(sshd.stop)  # no sshd, and the connection cut
        await _until("attempt 1 given up, its retry waiting", given_up)
        await asyncio.to_thread(sshd.start)
        await _until("attempt 2 on the host", lambda: "2" in _lines(log))
        seen["beside"] = _group_alive(seen["pgid"])
        flag.touch()

    watcher = asyncio.ensure_future(cut_then_back())
    try:
        plan = _plan(sshd, log, flag, "2s")
        state, _ = await run_plan(
            tmp_path, plan, store=store, run_id=run_id, on_runner=runners.append
        )
        await watcher
        assert seen["beside"] is False, "attempt 1 still ran on the host when attempt 2 started"
        t = state.tasks["long"]
        assert t.status is TaskStatus.SUCCEEDED and t.attempts == 2, t.reason
        said = [o.text for o in await store.read_output(run_id, "long", 2)]
        assert any(f"pid {seen['pgid']}" in s and "stopped" in s for s in said), said
    finally:
        watcher.cancel()
        stop_left(tmp_path)


@pytest.mark.slow
async def test_a_host_still_unreachable_is_not_run_on_blind_and_the_reason_names_the_pid(
    sshd: Sshd, tmp_path: Path, run_id: str
) -> None:
    flag, log = tmp_path / "go", tmp_path / "ran.log"
    store = MemoryStore()
    pgid: list[int] = []

    async def cut_for_good() -> None:
        pgid.append(await _first_attempt_told(store, run_id))
        await asyncio.to_thread(sshd.stop)

    watcher = asyncio.ensure_future(cut_for_good())
    try:
        plan = _plan(sshd, log, flag, "0.1s")
        state, _ = await run_plan(tmp_path, plan, store=store, run_id=run_id)
        await watcher
        t = state.tasks["long"]
        assert t.status is TaskStatus.FAILED and t.attempts == 2, t.reason
        assert _lines(log) == ["1"]  # the retry never started on the host
        said = f"may still be running on {sshd.host} (pid {pgid[0]})"
        assert said in t.reason, t.reason
        assert _group_alive(pgid[0])  # (it was: nothing could stop it)
    finally:
        watcher.cancel()
        stop_left(tmp_path)
