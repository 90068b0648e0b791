"""Durable runs from the command line: --detach, kill -9 of the engine, resume, doctor."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from phasegate.engine.durable.recovery import processes_by_run, run_processes

from .conftest import Run, spawn_pg
from .conftest import show_last as _show
from .conftest import until as _until

# b is in flight when the engine is killed; a has finished; c waits for b, d for c.
# Each task appends its name to a log, so a task that ran twice shows twice.
PLAN = """
name: durable
kill_grace: 1s
agents: {w: {slots: 2}}
phases:
  - id: one
    tasks:
      - {id: a, run: "sh -c 'echo a >> ran.log'"}
      # b's first attempt must still run when the take-over comes (several CLI calls after the
      # kill, however slow the machine): it waits a minute; its rerun does not
      - {id: b, needs: [a], run: "sh -c 'echo b-start >> ran.log;
          if [ $PHASEGATE_ATTEMPT = 1 ]; then sleep 60; fi; echo b >> ran.log'"}
      - {id: side, run: "sh -c 'sleep 120; echo side >> ran.log'", on_resume: ask}
  - id: two
    tasks:
      - {id: c, run: "sh -c 'echo c >> ran.log'", needs: [b]}
      - {id: d, run: "sh -c 'echo d >> ran.log'", needs: [c]}
"""


@pytest.fixture(autouse=True)
def _reap(cli_env: dict[str, str]) -> Iterator[None]:
    """A test that fails half-way leaves no task process of its runs behind."""
    yield
    db = cli_env["PHASEGATE_DB"]
    if not os.path.exists(db):
        return
    with sqlite3.connect(db) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM runs")}
    for run_id, found in processes_by_run().items():
        if run_id in ids:
            for proc in (p for procs in found.values() for p in procs):
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def _lines(tmp_path: Path) -> list[str]:
    log = tmp_path / "ran.log"
    return log.read_text().split() if log.exists() else []


def _detach_and_kill(pg: Run, tmp_path: Path) -> tuple[str, int]:
    """Start the plan detached, kill -9 its engine while b runs; (run id, engine pid)."""
    (tmp_path / "plan.yaml").write_text(PLAN)
    started = pg("run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    assert run_id and "phasegate attach" in started.stderr
    _until("b to start", lambda: "b-start" in _lines(tmp_path))
    shown = _show(pg)
    assert shown["id"] == run_id and shown["engine_alive"] is True
    pid = shown["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _until("the engine to die", lambda: not psutil.pid_exists(pid) or _zombie(pid))
    return run_id, pid


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_kill_9_then_resume_runs_nothing_twice_loses_nothing_leaves_nothing(
    pg: Run, tmp_path: Path
) -> None:
    run_id, dead = _detach_and_kill(pg, tmp_path)
    shown = _show(pg)
    assert shown["status"] == "interrupted" and shown["engine_alive"] is False
    assert "phasegate resume" in pg("show", "last").stdout
    assert "interrupted" in pg("runs").stdout
    refused = pg("skip", "last", "c", "--reason", "x")
    assert refused.returncode == 1 and f"phasegate resume {run_id}" in refused.stderr
    # side (on_resume: ask) needs an answer, and there is no terminal to ask on
    asked = pg("resume", "last", "--headless")
    assert asked.returncode == 2 and "side" in asked.stderr and "--decide" in asked.stderr
    assert "Traceback" not in asked.stderr
    typo = pg("resume", "last", "--headless", "--decide", "sied=skip")  # (side, misspelt)
    assert typo.returncode == 2 and "names no task" in typo.stderr and "sied" in typo.stderr
    assert run_processes(run_id), "the dead engine's tasks still run until the take-over"

    done = pg("resume", "last", "--headless", "--decide", "side=skip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"after its engine (pid {dead}) stopped" in done.stdout
    ran = _lines(tmp_path)
    assert ran.count("a") == 1  # finished before the crash: never again
    assert ran.count("c") == 1 and ran.count("d") == 1
    assert ran.count("b-start") == 2 and ran.count("b") == 1  # rerun: its old group was stopped
    assert "side" not in ran
    assert run_processes(run_id) == {}  # nothing of the dead engine is left
    shown = _show(pg)
    tasks = {t["id"]: t for t in shown["tasks"]}  # type: ignore[attr-defined]
    assert shown["status"] == "succeeded"
    assert tasks["b"]["attempts"] == 2 and tasks["a"]["attempts"] == 1
    assert tasks["side"]["status"] == "skipped"
    again = pg("resume", "last", "--headless")
    assert again.returncode == 0 and "nothing to resume" in again.stdout


@pytest.mark.slow
def test_a_live_run_is_not_taken_over_twice(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    started = pg("run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    _until("b to start", lambda: "b-start" in _lines(tmp_path))
    pid = _show(pg)["engine_pid"]
    told = pg("resume", "last", "--headless")
    assert told.returncode == 0 and "is running" in told.stdout
    assert _show(pg)["engine_pid"] == pid and _lines(tmp_path).count("b-start") == 1
    stopped = pg("cancel", "last")
    assert stopped.returncode == 0, stopped.stderr
    assert _show(pg)["status"] == "cancelled"


def test_resume_of_an_unknown_run_says_so(pg: Run) -> None:
    done = pg("resume", "nope", "--headless")
    assert done.returncode == 2 and "no run" in done.stderr
    bad = pg("resume", "nope", "--decide", "x")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_doctor_checks_the_database_and_names_an_interrupted_run(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    fresh = pg("doctor")
    assert fresh.returncode == 0 and "does not exist yet" in fresh.stdout
    run_id, _ = _detach_and_kill(pg, tmp_path)
    found = json.loads(pg("doctor", "--json").stdout)
    checks = {c["check"]: c for c in found["checks"]}
    assert checks["integrity"]["level"] == "ok" and checks["journal"]["detail"].endswith("wal")
    assert checks[f"run {run_id}"]["level"] == "warn"
    assert f"phasegate resume {run_id}" in checks[f"run {run_id}"]["detail"]
    assert "processes still run" in checks[f"run {run_id}"]["detail"]
    # the take-over stops what the dead engine left (side is skipped, b runs again)
    assert pg("resume", "last", "--headless", "--decide", "side=skip").returncode == 0
    assert run_processes(run_id) == {}
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    bad = pg("doctor", "--db", str(junk))
    assert bad.returncode == 1 and "FAIL" in bad.stdout and "not a database" in bad.stdout


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB file system of its own, for the database (root and mount(8) needed)."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


FULL = """
name: full
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: a, run: "echo first"}
      - {id: b, run: "sh -c 'sleep 0.5; [ -f room ] || { seq 1 300000; sleep 30; }'", needs: [a]}
      - {id: c, run: "echo after", needs: [b]}
"""


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_a_clear_error_and_loses_no_committed_event(
    pg: Run, tmp_path: Path, small_disk: Path
) -> None:
    (tmp_path / "full.yaml").write_text(FULL)
    db = str(small_disk / "runs.db")
    done = pg("run", "full.yaml", "--headless", "--db", db)
    assert done.returncode == 1
    assert "disk is full" in done.stderr and "phasegate resume" in done.stderr
    assert "Traceback" not in done.stderr
    shown = json.loads(pg("show", "last", "--json", "--db", db).stdout)
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert shown["status"] == "interrupted"
    assert tasks["a"]["status"] == "succeeded"  # committed before the disk filled: kept
    assert run_processes(shown["id"]) == {}  # b's processes were stopped
    # room again: the run goes on from where the database left it
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    (tmp_path / "room").touch()
    resumed = pg("resume", "last", "--headless", "--db", db)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    shown = json.loads(pg("show", "last", "--json", "--db", db).stdout)
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert shown["status"] == "succeeded"
    assert tasks["a"]["attempts"] == 1 and tasks["b"]["attempts"] == 2  # a never ran again


GATED = """
name: gated
agents: {w: {}}
phases:
  - id: first
    tasks: [{id: one, run: "sh -c 'echo one >> ran.log'"}]
  - id: second
    tasks: [{id: two, run: "sh -c 'echo two >> ran.log'"}]
gates:
  - {id: review, after: first, criteria: [{run: "true"}], approval: manual}
"""


@pytest.mark.slow
def test_a_gate_open_when_the_engine_died_opens_again_after_the_take_over(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "gated.yaml").write_text(GATED)
    assert pg("run", "gated.yaml", "--detach").returncode == 0

    def gate_open() -> bool:
        done = pg("gates", "last", "--json")
        return done.returncode == 0 and '"open"' in done.stdout

    _until("the gate to open", gate_open)
    pid = _show(pg)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _until("the engine to die", lambda: _zombie(pid))
    refused = pg("approve", "last", "review", "--reason", "ok")
    assert refused.returncode == 1 and "phasegate resume" in refused.stderr
    resumed = spawn_pg(tmp_path, cli_env, "resume", "last", "--headless")
    try:
        _until("the gate to open again", lambda: _show(pg)["engine_pid"] != pid and gate_open())
        assert "two" not in _lines(tmp_path)  # the phase after the gate still waits
        approved = pg("approve", "last", "review", "--reason", "fine")
        assert approved.returncode == 0, approved.stderr
        out, err = resumed.communicate(timeout=30)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
    assert resumed.returncode == 0, out + err
    assert _lines(tmp_path) == ["one", "two"]


ADOPT = """
name: adopt
agents: {w: {}}
phases:
  - id: one
    tasks:
      - id: long
        run: "sh -c 'echo before; while [ ! -f go ]; do sleep 0.05; done; echo after; exit 4'"
        on_resume: adopt
        on_failure: continue
      - {id: next, run: "echo next", needs: [long]}
"""


def _taken_over(pg: Run) -> bool:
    """Has the take-over decided what became of the dead engine's tasks (its audit row), not
    only taken the run's lease? `go` before it looked ended the task while no engine watched
    it: under load its status file could still be unwritten, and it ran again, not adopted."""
    rows = json.loads(pg("audit", "last", "--json").stdout or "{}").get("audit", [])
    return any(r["decision"] == "run taken over" for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("ends", ["while adopted", "while no engine ran"])
def test_an_adopted_task_is_waited_for_not_run_again(
    pg: Run, tmp_path: Path, cli_env: dict[str, str], ends: str
) -> None:
    (tmp_path / "adopt.yaml").write_text(ADOPT)
    assert pg("run", "adopt.yaml", "--detach").returncode == 0
    _until("long's first line", lambda: "before" in pg("logs", "last", "long").stdout)
    pid = _show(pg)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _until("the engine to die", lambda: _zombie(pid))
    run_id = str(_show(pg)["id"])
    assert run_processes(run_id), "long runs on without its engine"
    if ends == "while no engine ran":
        (tmp_path / "go").touch()
        _until("long to end on its own", lambda: run_processes(run_id) == {})
    taking_over = time.time()
    resumed = spawn_pg(tmp_path, cli_env, "resume", "last", "--headless")
    _until("the take-over", lambda: _taken_over(pg) or resumed.poll() is not None)
    (tmp_path / "go").touch()
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, out + err
    assert "long attempt 1: adopted" in out and "exited with code 4" in out
    shown = _show(pg)
    tasks = {t["id"]: t for t in shown["tasks"]}  # type: ignore[attr-defined]
    assert tasks["long"]["attempts"] == 1 and tasks["long"]["exit_code"] == 4
    # it ended when it ended: its time stops there, not at the take-over (which was counted)
    ended_alone = tasks["long"]["finished_at"] < taking_over
    assert ended_alone == (ends == "while no engine ran"), (
        tasks["long"]["finished_at"],
        taking_over,
        tasks["long"]["started_at"],
    )
    assert tasks["next"]["status"] == "succeeded"
    logs = pg("logs", "last", "long").stdout.splitlines()
    assert [line for line in logs if not line.startswith("──")] == ["before", "after"]  # once each
    assert logs[-1] == "── attempt 1 failed: exited with code 4 ──"


ADOPT_BACKGROUND = """
name: adopt-bg
agents: {w: {}}
phases:
  - id: one
    tasks:
      - id: long
        run: >-
          sh -c 'setsid sleep 300 >/dev/null 2>&1 & echo before;
          while [ ! -f go ]; do sleep 0.05; done'
        on_resume: adopt
"""


@pytest.mark.slow
def test_what_an_adopted_task_left_running_is_stopped_as_the_run_ends(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (its `setsid` child went to init when the engine died, out of the new engine's tree: it
    # outlived the run, which `doctor` then named a stray)
    (tmp_path / "adopt.yaml").write_text(ADOPT_BACKGROUND)
    assert pg("run", "adopt.yaml", "--detach").returncode == 0
    _until("long's first line", lambda: "before" in pg("logs", "last", "long").stdout)
    pid = _show(pg)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _until("the engine to die", lambda: _zombie(pid))
    run_id = str(_show(pg)["id"])
    resumed = spawn_pg(tmp_path, cli_env, "resume", "last", "--headless")
    _until("the take-over", lambda: _taken_over(pg) or resumed.poll() is not None)
    (tmp_path / "go").touch()
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, out + err
    assert "long attempt 1: adopted" in out
    assert run_processes(run_id) == {}, "the adopted task's background outlived the run"
