"""The engine host in its own process: `python -m phasegate.engine` takes its job (the parsed
plan) on stdin, says on a pipe when it holds the run, and loads neither textual nor click nor
tui."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.client.engines import EngineDidNotStart, start_engine
from phasegate.engine.host import Job
from phasegate.engine.plan import load_plan
from phasegate.engine.store.paths import new_run_id

PLAN = """
name: host
agents: {w: {slots: 2}}
phases:
  - id: one
    tasks:
      - {id: a, run: "echo hello"}
      - {id: b, run: "SLEEP", needs: [a]}
"""


def _job(tmp_path: Path, db_path: Path, sleep: str = "true") -> Job:
    plan = tmp_path / "host.yaml"
    plan.write_text(PLAN.replace("SLEEP", sleep))
    return Job(load_plan(str(plan)), str(db_path), new_run_id())


def test_the_engine_process_says_when_it_holds_the_run_and_loads_no_front_end(
    tmp_path: Path, db_path: Path
) -> None:
    job = _job(tmp_path, db_path)
    read_fd, write_fd = os.pipe()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-X",
                "importtime",
                "-m",
                "phasegate.engine",
                "--ready-fd",
                str(write_fd),
            ],
            input=pickle.dumps(job),
            capture_output=True,
            pass_fds=(write_fd,),
            timeout=60,
        )
        os.close(write_fd)
        said = os.read(read_fd, 100).decode()
    finally:
        os.close(read_fd)
    err = done.stderr.decode()
    assert done.returncode == 0, err[-2000:]
    assert said.split() == ["ok", said.split()[1]] and said.split()[1].isdigit()
    loaded = {
        line.rsplit("|", 1)[-1].strip()
        for line in err.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "phasegate.engine.host" in loaded and "phasegate.engine.run.loop" in loaded
    front = ("textual", "click", "tui")
    bad = sorted(m for m in loaded if m.split(".")[0] in front or m.startswith("phasegate.tui"))
    assert not bad, bad
    out = done.stdout.decode()
    assert f"phasegate: run {job.run_id} of host (2 tasks, 1 phase)" in out
    assert f"run {job.run_id} succeeded in" in out


def test_a_second_engine_on_a_live_run_does_not_start_and_its_log_says_why(
    tmp_path: Path, db_path: Path
) -> None:
    job = _job(tmp_path, db_path, sleep="sleep 30")
    first = start_engine(job)
    try:
        with pytest.raises(EngineDidNotStart) as refused:
            start_engine(Job(job.plan, job.db_path, job.run_id, resume={}))
        said = str(refused.value)
        assert "engine.log" in said and f"already has a live engine (pid {first.pid})" in said
        assert first.poll() is None  # the first engine holds the run still
    finally:
        first.terminate()
        assert first.wait(timeout=30) == 143


def test_ctrl_c_while_the_engine_starts_stops_it(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: Ctrl-C during `run --detach` said "Aborted!" and the run went on unseen
    import psutil

    from phasegate.engine.client import engines

    started: list[int] = []

    def interrupted(engine: subprocess.Popen[bytes], fd: int, timeout: float) -> bool:
        started.append(engine.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(engines, "_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        start_engine(_job(tmp_path, db_path, sleep="sleep 30"))
    assert started and not psutil.pid_exists(started[0])  # (terminated and reaped)
