"""Command-line tests run the installed `phasegate` in a real process, as a user does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
async def _close_run_sockets() -> AsyncIterator[None]:
    """The sockets of the live runs a dashboard test served (helpers.live_run), closed."""
    from .helpers import CHANNELS

    yield
    while CHANNELS:
        await CHANNELS.pop().close()


def until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    """Wait for a condition a test can only poll (another process's state), or fail naming it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def show_last(pg: Run) -> dict[str, object]:
    """`phasegate show last --json`, parsed."""
    done = pg("show", "last", "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def spawn_pg(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`phasegate ARGS` in the background, as a user starts it, its output captured as text."""
    return subprocess.Popen(
        [PHASEGATE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["PHASEGATE_DB"] = str(tmp_path / "data" / "phasegate.db")
    env["NO_COLOR"] = "1"
    yield env
    _stop_engines(env["PHASEGATE_DB"])


def _stop_engines(db: str) -> None:
    """The engines a test started on its database (`run --detach`, a dashboard's), and their
    tasks, killed: a test that failed before it cancelled its run left them running for good,
    on a machine the rest of the suite shares."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if "phasegate.engine" not in " ".join(proc.info["cmdline"] or ()):
            continue
        try:
            if proc.environ().get("PHASEGATE_DB") != db:
                continue
            for p in [*proc.children(recursive=True), proc]:
                p.kill()
        except psutil.Error:
            continue


@pytest.fixture
def pg(tmp_path: Path, cli_env: dict[str, str]) -> Run:
    def run(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHASEGATE, *args],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,  # type: ignore[call-overload]
        )

    return run


PLAN = """
name: dash
agents:
  builder: {capabilities: [build], slots: 2}
  tester: {capabilities: [test]}
phases:
  - id: build
    title: Build it
    tasks:
      - {id: compile, run: "echo compiled", capability: build}
      - {id: docs, run: "printf '[bold red]markup[/] \\\\033[31mred\\\\n'", capability: build}
  - id: check
    tasks:
      - {id: unit, run: "sh -c 'echo unit ok; echo needle here'", capability: test,
         needs: [compile]}
      - {id: flaky, run: "sh -c 'echo boom >&2; exit 1'", capability: test, on_failure: continue}
"""


@pytest.fixture
async def finished_run(tmp_path: Path) -> tuple[str, str]:
    """A finished run (one task failed, with on_failure: continue) in a SQLite database."""
    from phasegate.engine.plan import load_plan
    from phasegate.engine.run.loop import Runner
    from phasegate.engine.store import SQLiteStore

    plan_path = tmp_path / "dash.yaml"
    plan_path.write_text(PLAN)
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    try:
        await Runner(load_plan(str(plan_path)), store, "run1", run_dir=str(tmp_path)).run()
    finally:
        await store.close()
    return db, "run1"
