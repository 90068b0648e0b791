"""A worker the scheduler has dropped (a missed heartbeat) while its process lives on never starts
the task it held: the engine has submitted it again elsewhere, so the task runs once. Against an
in-process scheduler and two workers, the first run held just before its start mark."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = pytest.mark.xdist_group("dask-cluster")  # (one cluster at a time on the machine)

HELD = threading.Event()  # the first run of the task waits just before its start mark
RELEASE = threading.Event()
held_on: list[str] = []


def _held_deathsig(worker: Any) -> tuple[list[str], Any]:
    """In place of dask_worker._deathsig, the step just before the mark: the first run waits."""
    if not held_on:
        held_on.append(worker.address)
        HELD.set()
        RELEASE.wait(60)
    return [], None


async def _poll(what: str, check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_worker_the_scheduler_dropped_does_not_start_the_task_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed", reason="distributed is not installed: pip install '.[dask]'")
    import dask
    from distributed import Scheduler, Worker

    from phasegate.engine.exec import dask_worker
    from phasegate.engine.exec.base import Exit, ProcSpec
    from phasegate.engine.exec.dask import DaskExecutor

    monkeypatch.setattr(dask_worker, "_deathsig", _held_deathsig)  # (shipped with run_task)
    HELD.clear()
    RELEASE.clear()
    held_on.clear()

    async def scenario() -> tuple[Exit, list[str], int]:
        config = {"distributed.scheduler.allowed-failures": 0}
        with dask.config.set(config):
            async with (
                Scheduler(host="127.0.0.1", port=0, dashboard=False) as s,
                Worker(s.address, nthreads=1) as w1,
                Worker(s.address, nthreads=1) as w2,
            ):
                ex = DaskExecutor(s.address, SimpleNamespace(executor=None))  # type: ignore[arg-type]
                lines: list[str] = []
                ended: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
                env = {"PHASEGATE_RUN_ID": uuid.uuid4().hex[:8], "PHASEGATE_TASK": "t"}
                spec = ProcSpec(["sh", "-c", "echo $PHASEGATE_TASK >> ran.log"], env, str(tmp_path))
                handle = ex.start(spec, lambda _, text: lines.append(text), ended.set_result)
                try:
                    assert await asyncio.to_thread(HELD.wait, 30), "the task never reached a worker"
                    dropped = w1 if w1.address == held_on[0] else w2
                    # the scheduler drops it (its heartbeat missed), its process and thread live on
                    dropped.periodic_callbacks["heartbeat"].stop()
                    await s.remove_worker(dropped.address, stimulus_id="test-ttl", close=False)
                    result = await asyncio.wait_for(ended, 30)  # (submitted again, run elsewhere)
                    RELEASE.set()  # the dropped worker's thread goes on to its start mark
                    await _poll("the dropped worker's thread", lambda: not dropped.active_threads)
                finally:
                    RELEASE.set()
                    ex.close()
                    for w in (w1, w2):
                        keeper = getattr(w, "_phasegate_keeper", None)
                        if keeper is not None and keeper.stdin is not None:
                            keeper.stdin.close()  # (it ends with its input)
                            keeper.wait(10)
                return result, lines, handle.requeued

    result, lines, requeued = asyncio.run(scenario())
    assert result.code == 0, result
    assert (tmp_path / "ran.log").read_text().split() == ["t"]  # once, never twice
    assert requeued == 1, lines
    assert any("submitted again" in line for line in lines), lines
