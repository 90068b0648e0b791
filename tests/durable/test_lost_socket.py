"""Regression: deleting a run's directory while the run went cut the live engine off from every
command for good (`approve` and `cancel` said "no engine holds run ...", `resume` that it was
running, `doctor` that all was well): the engine never made its socket again. The engine now
sees once a second that its socket is gone and binds it again, in a directory made again with
the modes of the run's start; the client, finding no socket while the engine lives, says so;
`doctor` warns of a live run without its socket."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.client import NoEngine, deliver
from phasegate.engine.durable.doctor import diagnose
from phasegate.engine.exec.group import process_start_time, same_process
from phasegate.engine.model.commands import Approve
from phasegate.engine.model.identity import Identity
from phasegate.engine.run.channel import Channel
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.paths import run_dir, socket_path

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
DEADLINE = 20.0  # seconds for what the engine does within one


async def _ask(path: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(json.dumps({"kind": "note", "args": {}}).encode() + b"\n")
        await writer.drain()
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


async def _answered(path: str) -> dict[str, Any]:
    """The answer through the socket at `path`, once it is there again (or fail at a deadline)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            return await _ask(path)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise AssertionError(f"no socket at {path} within {DEADLINE:g}s") from None
            await asyncio.sleep(0.05)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
async def test_the_engine_binds_its_socket_again_in_its_run_directory_made_again(
    tmp_path: Path, shared: bool
) -> None:
    runs = tmp_path / "data" / "runs"
    directory = runs / "r1"
    path = socket_path(str(directory))
    group = os.getgid() if shared else None
    taken: list[int] = []

    def take(kind: str, args: dict[str, Any], who: Identity) -> dict[str, Any]:
        taken.append(who.uid)
        return {"id": len(taken)}

    channel = Channel(path, take, group)
    await channel.open()
    try:
        assert await _ask(path) == {"id": 1}
        shutil.rmtree(runs)  # (`rm -rf runs/<id>` and more: every directory made again)
        assert await _answered(path) == {"id": 2}
        dirs, sock = (0o2750, 0o660) if shared else (0o700, 0o600)
        assert (_mode(runs), _mode(directory), _mode(Path(path))) == (dirs, dirs, sock)
        if group is not None:
            assert os.stat(directory).st_gid == group and os.stat(path).st_gid == group
    finally:
        await channel.close()
    assert taken == [os.getuid()] * 2
    assert not os.path.exists(path)  # (closed: its socket removed, as before)


async def _store_with_run(db_path: Path, pid: int, started: float) -> SQLiteStore:
    store = await SQLiteStore.open(str(db_path))
    await store.create_run(RunRow("r1", "p", "p.yaml", "running", time.time()))
    await store.acquire_lease("r1", pid, started, time.time(), same_process)
    return store


async def test_a_live_engine_without_its_socket_is_named_live_by_the_client_and_doctor(
    db_path: Path,
) -> None:
    me = os.getpid()  # (this process stands for the engine: alive, and the lease's)
    store = await _store_with_run(db_path, me, process_start_time(me))
    path = socket_path(run_dir(str(db_path), "r1"))
    try:
        with pytest.raises(NoEngine) as info:
            await deliver(store, "r1", Approve("g"))
        said = str(info.value)
        assert f"the engine of run r1 (pid {me}) lives but its socket {path} is gone" in said
        assert "try again" in said and "no engine holds" not in said
        found = {f.check: f for f in diagnose(str(db_path))}["run r1"]
        assert found.level == "warn" and f"its socket {path} is gone" in found.detail
        with socket.socket(socket.AF_UNIX) as bound:  # (its socket there: all is well)
            bound.bind(path)
            found = {f.check: f for f in diagnose(str(db_path))}["run r1"]
            assert (found.level, found.detail) == ("ok", f"running (engine pid {me})")
        await store.release_lease("r1", me)  # a dead engine: as before
        with pytest.raises(NoEngine, match="no engine holds run r1 now"):
            await deliver(store, "r1", Approve("g"))
    finally:
        await store.close()


PLAN = """
name: lost-socket
agents: {a: {}}
phases:
  - id: one
    tasks:
      - {id: first, run: "true"}
  - id: two
    tasks:
      - {id: second, run: "true"}
gates:
  - id: g
    after: one
    approval: manual
"""


@pytest.mark.slow
def test_a_gate_is_decided_after_the_run_directory_was_removed(tmp_path: Path) -> None:
    db = tmp_path / "data" / "phasegate.db"
    (tmp_path / "plan.yaml").write_text(PLAN)
    env = {**os.environ, "PHASEGATE_DB": str(db), "NO_COLOR": "1"}

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHASEGATE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    run = subprocess.Popen(
        [PHASEGATE, "run", "plan.yaml", "--headless"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        waits = pg("gates", "--wait", "--timeout", "30")
        assert waits.returncode == 0, waits.stdout + waits.stderr
        (run_id,) = os.listdir(db.parent / "runs")
        shutil.rmtree(db.parent / "runs" / run_id)
        deadline = time.monotonic() + DEADLINE
        while (done := pg("approve", run_id, "g", "--reason", "ok")).returncode != 0:
            assert "lives but its socket" in done.stderr, done.stdout + done.stderr
            assert time.monotonic() < deadline, done.stderr
            time.sleep(0.05)  # (polling: the engine makes the socket within a second)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, out + err
    assert f"run {run_id} succeeded" in out
    assert "was gone (its directory removed?): made again" in err


async def test_a_command_sent_as_the_run_ends_is_told_the_run_ended_not_to_try_again(
    db_path: Path,
) -> None:
    """At a run's end its engine closes its socket, then records the end: a command sent in
    between (twenty approvers at once, one deciding the last gate) was told "it re-creates it
    within a second, try again", of a run that was ending."""
    me = os.getpid()
    store = await _store_with_run(db_path, me, process_start_time(me))

    async def ends() -> None:
        await asyncio.sleep(0.2)  # (the engine records the run's end a moment later)
        await store.write_batch("r1", [], summary={"status": "succeeded", "finished_at": 1.0})

    try:
        ending = asyncio.ensure_future(ends())
        with pytest.raises(NoEngine) as info:
            await deliver(store, "r1", Approve("g"))
        await ending
        said = str(info.value)
        assert "no engine holds run r1" in said and "try again" not in said, said
    finally:
        await store.close()
