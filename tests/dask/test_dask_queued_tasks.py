"""A task that waits in Dask's queue (more slots than worker threads) has not started: it starts
when a worker thread runs its command, and a worker that dies with it still queued loses
nothing (it is submitted again: no attempt counted, no failure). Against a real scheduler and
two one-thread workers, where the tester saw it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from .conftest import CLUSTER_ENV, Cluster, _stop, free_port, run_pg, spawn_pg, until
from .test_dask_executor import _events, _plan, _show, _tasks

pytestmark = pytest.mark.xdist_group("dask-cluster")  # (one cluster at a time on the machine)


@pytest.fixture(scope="module")
def thin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and two workers of one thread each: a third task waits in Dask's queue."""
    pytest.importorskip("distributed", reason="distributed is not installed: pip install '.[dask]'")
    logs = tmp_path_factory.mktemp("dask-thin")
    port = free_port()
    log = open(logs / "scheduler.log", "ab")  # noqa: SIM115
    scheduler = subprocess.Popen(
        [
            *(sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"),
            *("--port", str(port), "--no-dashboard"),
        ],
        env=os.environ | CLUSTER_ENV,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    found = Cluster(f"tcp://127.0.0.1:{port}", scheduler, logs=logs)
    try:
        for name in ("t1", "t2"):
            found.start_worker(name, "--nthreads", "1")  # (the last --nthreads wins)
        until("two Dask workers", lambda: found.count_workers() == 2, 60)
        yield found
    finally:
        for w in found.workers:
            _stop(w)
        _stop(scheduler)


def _processing(cluster: Cluster) -> dict[str, list[str]]:
    """The scheduler's tasks assigned to each worker (running, or in the worker's queue)."""
    from distributed import Client

    with Client(cluster.address, timeout=10) as client:
        return {w: [str(k) for k in keys] for w, keys in client.processing().items()}


def _worker_pid(cluster: Cluster, address: str) -> int:
    from distributed import Client

    with Client(cluster.address, timeout=10) as client:
        return int(client.run(os.getpid, workers=[address])[address])


def _where(cluster: Cluster, task: str) -> str:
    """The worker the task is assigned to ("" if none)."""
    for worker, keys in _processing(cluster).items():
        if any(f"-{task}-1-" in k for k in keys):
            return worker
    return ""


@pytest.mark.slow
def test_a_worker_dying_with_a_task_in_its_queue_loses_nothing_the_task_runs_once(
    thin: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    hold = (
        "sh -c 'echo $PHASEGATE_TASK-$PHASEGATE_ATTEMPT >> ran.log; "
        "if [ $PHASEGATE_ATTEMPT = 1 ]; then while [ ! -f release ]; do sleep 0.05; done; fi'"
    )
    tasks = f"""      - {{id: s1, run: "{hold}", retries: 1, backoff: 0.1}}
      - {{id: s2, run: "{hold}", retries: 1, backoff: 0.1}}
      - {{id: q, run: "sh -c 'echo quick >> q.log; echo quick'"}}
"""
    (tmp_path / "plan.yaml").write_text(_plan(thin, tasks, slots=4, name="queued"))
    engine = spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
    try:
        ran = tmp_path / "ran.log"
        until(
            "s1 and s2 on the two worker threads",
            lambda: ran.exists() and len(ran.read_text().split()) == 2,
        )
        until("q in a busy worker's queue", lambda: _where(thin, "q") != "")
        queue = _where(thin, "q")
        assert not (tmp_path / "q.log").exists()  # (one thread each, both busy: it waits)
        os.kill(_worker_pid(thin, queue), signal.SIGKILL)
        until("the scheduler to see one worker", lambda: thin.count_workers() == 1)
        until(
            "q submitted again, to the other worker", lambda: _where(thin, "q") not in ("", queue)
        )
        (tmp_path / "release").touch()
        out, err = engine.communicate(timeout=90)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
        for dead in [w for w in thin.workers if w.poll() is not None]:
            thin.workers.remove(dead)
            thin.start_worker(f"t{dead.pid}", "--nthreads", "1")
        until("two Dask workers again", lambda: thin.count_workers() == 2, 60)
    assert engine.returncode == 0, out + err
    assert (tmp_path / "q.log").read_text().split() == ["quick"]  # it ran, once
    shown = _tasks(_show(tmp_path, cli_env))
    assert shown["q"]["status"] == "succeeded" and shown["q"]["attempts"] == 1, shown["q"]
    finished = [e for e in _events(cli_env, "task.finished") if e["task"] == "q"]
    assert [(e["attempt"], e["status"]) for e in finished] == [(1, "succeeded")]
    # the task whose command the worker ran is lost and retried; q is not said to be lost
    reasons = [str(e["reason"]) for e in _events(cli_env, "task.finished")]
    assert sum(r.startswith("lost: worker tcp://") for r in reasons) == 1, reasons
    risks = [e for e in _events(cli_env, "risk.raised") if e["rule"] == "worker_lost"]
    assert all("task q " not in str(e["message"]) for e in risks), risks
    # its log says why it waited and that it was submitted again (none of its own time)
    logs = run_pg(tmp_path, cli_env, "logs", "last", "q").stdout
    assert "died before it started the task" in logs and "submitted again" in logs, logs
    assert logs.splitlines()[-1] == "quick", logs


@pytest.mark.slow
def test_a_queued_task_starts_when_a_worker_thread_runs_its_command(
    thin: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor's word on a task's start: what the engine times it from (task.started)."""
    from phasegate.engine.exec import dask_task
    from phasegate.engine.exec.base import Exit, ProcSpec
    from phasegate.engine.exec.dask import DaskExecutor

    monkeypatch.setattr(dask_task, "QUEUED_SAID", 0.0)  # (any wait in Dask's queue is said)
    release = tmp_path / "release"
    wait = f"while [ ! -f {release} ]; do sleep 0.05; done"

    async def scenario() -> None:
        ex = DaskExecutor(thin.address, SimpleNamespace(executor=None))  # type: ignore[arg-type]
        run = uuid.uuid4().hex[:8]
        ends: dict[str, asyncio.Future[Exit]] = {}
        starts: dict[str, float] = {}
        lines: dict[str, list[str]] = {"a": [], "b": [], "c": []}
        handles: dict[str, Any] = {}
        loop = asyncio.get_running_loop()

        def start(name: str, script: str) -> Any:
            ends[name] = loop.create_future()
            env = {"PHASEGATE_RUN_ID": run, "PHASEGATE_TASK": name, "PHASEGATE_ATTEMPT": "1"}
            handles[name] = h = ex.start(
                ProcSpec(["sh", "-c", script], env, str(tmp_path)),
                lambda stream, text: lines[name].append(text),
                ends[name].set_result,
            )
            h.when_started(lambda: starts.setdefault(name, time.time()))

        start("a", wait)
        start("b", wait)
        deadline = time.monotonic() + 30
        while len(starts) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sorted(starts) == ["a", "b"], starts
        start("c", "true")  # (both threads busy: it waits in Dask's queue)
        deadline = time.monotonic() + 30
        while _where(thin, "c") == "" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert "c" not in starts
        assert handles["c"].queued and handles["c"].pid == 0
        assert not handles["a"].queued and handles["a"].pid > 0
        released = time.time()
        release.touch()
        assert (await asyncio.wait_for(ends["c"], 30)).code == 0
        assert starts["c"] >= released  # (its start: when a thread ran it, not its submission)
        assert len(lines["c"]) == 1 and "in Dask's queue" in lines["c"][0], lines["c"]
        for name in ("a", "b"):
            assert (await asyncio.wait_for(ends[name], 30)).code == 0
        ex.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_worker_dying_as_the_command_starts_is_a_lost_task_never_run_twice(
    thin: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The workers die the instant the command starts, before its "started" event could leave
    its worker: the task may have done its work, so it is lost (into its retry policy), never
    submitted again as if it had waited in a queue (CI saw it run twice)."""
    workers = " ".join(str(pid) for pid in thin.worker_pids())  # (whichever runs it dies)
    run = f"sh -c 'echo $PHASEGATE_ATTEMPT >> attempts.log; kill -9 {workers}; sleep 30'"
    tasks = f"""      - {{id: victim, run: "{run}"}}
"""
    (tmp_path / "plan.yaml").write_text(_plan(thin, tasks, slots=1, name="instant"))
    try:
        done = run_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q", timeout=90)
    finally:
        for dead in [w for w in thin.workers if w.poll() is not None]:
            thin.workers.remove(dead)
            thin.start_worker(f"t{dead.pid}", "--nthreads", "1")
        until("two Dask workers again", lambda: thin.count_workers() == 2, 60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (tmp_path / "attempts.log").read_text().split() == ["1"]  # it ran once
    victim = _tasks(_show(tmp_path, cli_env))["victim"]
    assert victim["status"] == "failed" and victim["attempts"] == 1, victim
    assert str(victim["reason"]).startswith("lost: worker tcp://127.0.0.1:"), victim


@pytest.mark.slow
def test_a_task_in_dasks_queue_is_not_running_until_a_worker_starts_it(
    thin: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Its task.started (its status, TIME, the roster, its timeout) is when a worker thread ran
    its command, not when it was handed to Dask."""
    hold = "sh -c 'while [ ! -f release ]; do sleep 0.05; done'"
    tasks = f"""      - {{id: s1, run: "{hold}"}}
      - {{id: s2, run: "{hold}"}}
      - {{id: q, run: "echo quick", timeout: 30}}
"""
    (tmp_path / "plan.yaml").write_text(_plan(thin, tasks, slots=3, name="queued-start"))
    engine = spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
    try:
        until("q in a busy worker's queue", lambda: _where(thin, "q") != "")
        waiting = _tasks(_show(tmp_path, cli_env))
        assert waiting["q"]["status"] == "ready", waiting["q"]  # (handed to Dask, not started)
        assert {waiting["s1"]["status"], waiting["s2"]["status"]} == {"running"}
        released = time.time()
        (tmp_path / "release").touch()
        out, err = engine.communicate(timeout=90)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
    assert engine.returncode == 0, out + err
    q = _tasks(_show(tmp_path, cli_env))["q"]
    assert q["status"] == "succeeded" and float(str(q["started_at"])) >= released, q
