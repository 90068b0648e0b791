"""`phasegate run` with its dashboard, after its engine died and the dashboard took the run over
(`r`): it says how the run really ended and exits as `run --headless` does (the store says it),
and `d` names the live engine's pid.

Regression: it trusted the engine it had started itself, killed: `run ID was interrupted: its
engine was killed by SIGKILL` and exit 1 for a run that succeeded, and `d` named the dead pid."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from phasegate.engine.client.engines import Job, start_engine
from phasegate.engine.plan import load_plan
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.paths import new_run_id
from phasegate.tui import launch

PLAN = """
name: taken
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: t, run: "sh -c 'while [ ! -e go ]; do sleep 0.05; done'"}
"""


def _row(db: str, run_id: str) -> RunRow | None:
    async def read() -> RunRow | None:
        store = await SQLiteStore.open(db)
        try:
            return await store.get_run(run_id)
        finally:
            await store.close()

    return asyncio.run(read())


def _until(what: str, check: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _killed_run(tmp_path: Path) -> tuple[str, str, subprocess.Popen[bytes]]:
    """A run whose engine this process started and killed (kill -9): (db, run id, engine)."""
    (tmp_path / "plan.yaml").write_text(PLAN)
    db = str(tmp_path / "data" / "phasegate.db")
    run_id = new_run_id()
    engine = start_engine(Job(load_plan(str(tmp_path / "plan.yaml")), db, run_id))
    os.kill(engine.pid, signal.SIGKILL)
    _until("the engine to die", lambda: psutil.Process(engine.pid).status() == psutil.STATUS_ZOMBIE)
    return db, run_id, engine


@pytest.mark.slow
def test_q_after_a_take_over_says_the_run_succeeded_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, run_id, engine = _killed_run(tmp_path)

    def dashboard(db_path: str, rid: str | None, color: str) -> str | None:
        """`r` (take the run over), the run ends, then `q`."""
        assert rid == run_id
        launch.take_over(db_path, run_id)
        (tmp_path / "go").touch()
        _until(
            "the run to end", lambda: (_row(db, run_id) or RunRow("", "", "", "", 0)).finished_at
        )
        return None

    code = launch.watch(db, run_id, engine, "never", dashboard=dashboard)
    said = capsys.readouterr().out
    assert f"run {run_id} succeeded in" in said, said
    assert "interrupted" not in said and "SIGKILL" not in said
    assert code == 0


@pytest.mark.slow
def test_d_after_a_take_over_names_the_live_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, run_id, engine = _killed_run(tmp_path)
    live: list[subprocess.Popen[bytes]] = []

    def dashboard(db_path: str, rid: str | None, color: str) -> str | None:
        """`r` (take the run over), then `d` while it goes on."""
        live.append(launch.take_over(db_path, run_id))
        return "detached"

    try:
        code = launch.watch(db, run_id, engine, "never", dashboard=dashboard)
        said = capsys.readouterr().out
        assert f"goes on in the background (engine pid {live[0].pid})" in said, said
        assert str(engine.pid) not in said
        assert code == 0
    finally:
        (tmp_path / "go").touch()
        for taken in live:
            taken.wait()  # (it ends with the run)
