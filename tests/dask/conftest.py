"""A real Dask cluster for the executor's tests: `dask scheduler` and two `dask worker`
processes on 127.0.0.1 at free ports (separate processes, as in production), with the settings
phasegate needs: no task survives a worker's death (allowed-failures 0) and a lost worker is
noticed within seconds. Skipped, saying why, when distributed is not installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
# what phasegate asks of a cluster (README: Fan-out on a Dask cluster), short for the tests
CLUSTER_ENV = {
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
    "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "5s",
    "DASK_DISTRIBUTED__WORKER__HEARTBEAT_INTERVAL": "0.5s",
    "DASK_DISTRIBUTED__ADMIN__TICK__LIMIT": "30s",  # (a loaded CI machine: no tick warnings)
    "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "warning",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    """Wait for a condition a test can only poll (another process's state), or fail naming it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = Path()

    def worker_pids(self) -> list[int]:
        """The worker processes (not their nannies: started with --no-nanny)."""
        return [w.pid for w in self.workers if w.poll() is None]

    def start_worker(self, name: str, *more: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "4",
                "--no-nanny",
                "--name",
                name,
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                *more,
            ],
            env=os.environ | CLUSTER_ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.workers.append(proc)
        return proc

    def replace_dead_workers(self) -> None:
        """Start a worker for each one a test killed, and wait until the scheduler has two."""
        for dead in [w for w in self.workers if w.poll() is not None]:
            self.workers.remove(dead)
            self.start_worker(f"w{len(self.workers) + 1}-{dead.pid}")
        until("two Dask workers again", lambda: self.count_workers() == 2, 60)

    def count_workers(self) -> int:
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pytest.importorskip("distributed", reason="distributed is not installed: pip install '.[dask]'")
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(logs / "scheduler.log", "ab")  # noqa: SIM115
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        env=os.environ | CLUSTER_ENV,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    found = Cluster(address, scheduler, logs=logs)
    try:
        found.start_worker("w1")
        found.start_worker("w2")
        until("two Dask workers", lambda: found.count_workers() == 2, 60)
        yield found
    finally:
        for w in found.workers:
            _stop(w)
        _stop(scheduler)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PHASEGATE_DB"] = str(tmp_path / "data" / "phasegate.db")
    env["NO_COLOR"] = "1"
    return env


def run_pg(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PHASEGATE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def spawn_pg(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PHASEGATE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def marked(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds `marker` (the workers run on this machine)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found
