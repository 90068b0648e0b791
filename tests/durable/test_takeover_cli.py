"""Taking a run over from the command line: a run killed right after it started, a gate that
waited when the engine died, and `--decide` for a task that takes no decision."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import psutil
import pytest

from phasegate.engine.durable.recovery import processes_by_run, run_processes
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PHASEGATE_DB=str(tmp_path / "data" / "pg.db"), NO_COLOR="1")


@pytest.fixture
def pg(tmp_path: Path, env: dict[str, str]) -> Iterator[Run]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHASEGATE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    yield run
    if os.path.exists(env["PHASEGATE_DB"]):  # (a test that failed half-way leaves nothing)
        with closing(sqlite3.connect(env["PHASEGATE_DB"])) as conn:
            ids = {r[0] for r in conn.execute("SELECT id FROM runs")}
        for run_id, found in processes_by_run().items():
            for proc in (p for procs in found.values() for p in procs if run_id in ids):
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def _until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill_engine(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    _until("the engine to die", lambda: _gone(pid))


def _show(pg: Run, run_id: str) -> dict[str, object]:
    done = pg("show", run_id, "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


DUR5 = """
name: dur5
agents: {sh: {slots: 4}}
phases:
  - id: a
    tasks:
      - {id: quick, agent: sh, run: "sh -c 'echo \\"$PHASEGATE_RUN_ID quick $PHASEGATE_ATTEMPT\\" >> runs.log'"}
      - {id: slow,  agent: sh, run: "sh -c 'echo \\"$PHASEGATE_RUN_ID slow-start\\" >> runs.log; sleep 5; echo \\"$PHASEGATE_RUN_ID slow-end\\" >> runs.log'"}
"""  # noqa: E501


@pytest.mark.slow
def test_a_run_killed_right_after_it_started_is_taken_over_and_its_tasks_stopped(
    pg: Run, tmp_path: Path
) -> None:
    # the tester's case: every resume ended in `KeyError: 'a'` and the old `slow` ran on
    (tmp_path / "p5.yaml").write_text(DUR5)
    started = pg("run", "p5.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    found = re.search(r"engine pid (\d+)", started.stderr)
    assert found, started.stderr
    _kill_engine(int(found.group(1)))
    resumed = pg("resume", run_id, "--headless")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert run_processes(run_id) == {}  # nothing of either engine runs on
    log = (tmp_path / "runs.log").read_text().splitlines()
    assert log.count(f"{run_id} slow-end") == 1  # the dead engine's slow was stopped
    shown = _show(pg, run_id)
    tasks = {t["id"]: t for t in shown["tasks"]}  # type: ignore[attr-defined]
    assert shown["status"] == "succeeded"
    assert tasks["slow"]["attempts"] == log.count(f"{run_id} slow-start")
    quick = [line.split()[-1] for line in log if " quick " in line]
    assert len(set(quick)) == len(quick)  # never the same attempt twice
    assert quick[-1] == str(tasks["quick"]["attempts"])


GATED = """
name: gated
agents: {w: {}}
phases:
  - id: first
    tasks: [{id: one, run: "true"}]
  - id: second
    tasks: [{id: two, run: "true"}]
gates:
  - {id: review, after: first, approval: manual}
"""


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [False, True], ids=["plain", "quiet"])
def test_a_take_over_says_that_a_gate_waits_and_how_to_approve_it(
    pg: Run, tmp_path: Path, env: dict[str, str], quiet: bool
) -> None:
    (tmp_path / "gated.yaml").write_text(GATED)
    started = pg("run", "gated.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    _until("the gate to open", lambda: '"open"' in pg("gates", run_id, "--json").stdout)
    dead = _show(pg, run_id)["engine_pid"]
    assert isinstance(dead, int)
    _kill_engine(dead)
    resumed = subprocess.Popen(
        [PHASEGATE, "resume", run_id, "--headless", *(["-q"] if quiet else [])],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _until("the take-over", lambda: _show(pg, run_id)["engine_pid"] not in (dead, None))
        approved = pg("approve", run_id, "review", "--reason", "fine")
        assert approved.returncode == 0, approved.stderr
        out, err = resumed.communicate(timeout=30)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
    assert resumed.returncode == 0, out + err
    told = f"gate review waits for approval: phasegate approve {run_id} review --reason TEXT"
    assert told in out, out  # (as a fresh run says it, -q or not)


async def _interrupted(db: Path, plan: Path) -> str:
    """A run whose engine is gone before it recorded anything (as after a kill -9 at once)."""
    store = await SQLiteStore.open(str(db))
    try:
        await store.create_run(RunRow("r5", "dur5", str(plan), "pending", time.time()))
        await store.save_plan("r5", plan.read_text(), {})
        gone = subprocess.Popen(["true"])
        gone.wait()
        await store.acquire_lease("r5", gone.pid, 1.0, time.time(), lambda *_: False)
    finally:
        await store.close()
    return "r5"


def test_decide_for_a_task_whose_on_resume_is_not_ask_is_refused(
    pg: Run, tmp_path: Path, env: dict[str, str]
) -> None:
    plan = tmp_path / "p5.yaml"
    plan.write_text(DUR5)
    run_id = asyncio.run(_interrupted(Path(env["PHASEGATE_DB"]), plan))
    done = pg("resume", run_id, "--headless", "--decide", "slow=skip")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "slow has on_resume: rerun" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs.log").exists()  # nothing was taken over, nothing ran
    assert _show(pg, run_id)["status"] == "interrupted"
