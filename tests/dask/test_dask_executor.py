"""Agents on a Dask cluster (`executor: {dask: ...}`), against a real scheduler and two workers
(conftest): each task runs once, its output in order, cancel and timeout leave nothing on the
workers, a worker's death is a lost task retried by phasegate (never by Dask), and a dead
engine's tasks are stopped on the workers and run again by `resume`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import uuid
from pathlib import Path

import psutil
import pytest

from .conftest import Cluster, marked, run_pg, spawn_pg, until

# one pytest-xdist worker runs them all: one cluster (the module's fixture) instead of one a worker
pytestmark = pytest.mark.xdist_group("dask-cluster")


def _plan(cluster: Cluster, tasks: str, slots: int = 8, name: str = "fan") -> str:
    return f"""
name: {name}
agents:
  d:
    slots: {slots}
    executor: {{dask: "{cluster.address}"}}
phases:
  - id: one
    tasks:
{tasks}
"""


def _show(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    done = run_pg(tmp_path, env, "show", "last", "--json")
    assert done.returncode == 0, done.stderr
    shown: dict[str, object] = json.loads(done.stdout)
    return shown


def _tasks(shown: dict[str, object]) -> dict[str, dict[str, object]]:
    tasks = shown["tasks"]
    assert isinstance(tasks, list)
    return {str(t["id"]): t for t in tasks}


def _events(env: dict[str, str], kind: str) -> list[dict[str, object]]:
    """The data of the last run's events of one type, in order."""
    with sqlite3.connect(env["PHASEGATE_DB"]) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE type = ? AND run_id = "
            "(SELECT run_id FROM events ORDER BY id DESC LIMIT 1) ORDER BY seq",
            (kind,),
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.mark.slow
def test_a_500_task_plan_runs_each_task_exactly_once(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    tasks = "\n".join(
        f"      - {{id: t{i}, run: \"sh -c 'echo $PHASEGATE_TASK >> ran.log'\"}}"
        for i in range(500)
    )
    (tmp_path / "plan.yaml").write_text(_plan(cluster, tasks, slots=8))
    done = run_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ran = (tmp_path / "ran.log").read_text().split()
    assert sorted(ran) == sorted(f"t{i}" for i in range(500))  # each once, none twice
    shown = _tasks(_show(tmp_path, cli_env))
    assert {t["status"] for t in shown.values()} == {"succeeded"}
    assert {t["attempts"] for t in shown.values()} == {1}


@pytest.mark.slow
def test_output_arrives_line_by_line_in_order_with_exit_codes(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    tasks = """      - id: count
        run: "sh -c 'i=1; while [ $i -le 3000 ]; do echo line $i; i=$((i+1)); done; echo tail >&2'"
      - {id: fails, run: "sh -c 'echo before; exit 3'", on_failure: continue}
      - {id: missing, run: "no-such-command-here", on_failure: continue}
"""
    (tmp_path / "plan.yaml").write_text(_plan(cluster, tasks))
    done = run_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    logs = run_pg(tmp_path, cli_env, "logs", "last", "count")
    assert logs.stdout.splitlines() == [*(f"line {i}" for i in range(1, 3001)), "tail"]
    shown = _tasks(_show(tmp_path, cli_env))
    assert shown["count"]["exit_code"] == 0
    assert shown["fails"]["exit_code"] == 3 and shown["fails"]["status"] == "failed"
    assert shown["missing"]["exit_code"] == 127
    assert "cannot run" in run_pg(tmp_path, cli_env, "logs", "last", "missing").stdout


def test_a_dask_executor_without_distributed_is_a_plan_error_naming_the_extra(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['distributed'] = None\n")
    plan = _plan(Cluster("tcp://127.0.0.1:1", None), "      - {id: a, run: 'true'}")  # type: ignore[arg-type]
    (tmp_path / "plan.yaml").write_text(plan)
    done = run_pg(tmp_path, cli_env | {"PYTHONPATH": str(hide)}, "run", "plan.yaml", "--headless")
    assert done.returncode == 2
    assert "pip install 'phasegate[dask]'" in done.stderr and "agents.d.executor" in done.stderr
    assert "Traceback" not in done.stderr


def _marker() -> str:
    return f"{os.getpid() % 1000 + 1000}.{uuid.uuid4().int % 10**6}"


@pytest.mark.slow
def test_cancel_and_timeout_leave_no_process_on_the_workers(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    mark = _marker()
    sleeper = f"sh -c 'echo up; sleep {mark}; echo never'"
    tasks = f"""      - {{id: a, run: "{sleeper}"}}
      - {{id: b, run: "{sleeper}"}}
      - {{id: c, run: "{sleeper}", timeout: 1, on_failure: continue}}
"""
    (tmp_path / "plan.yaml").write_text(_plan(cluster, tasks))
    engine = spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
    try:
        until("the tasks to run on the workers", lambda: len(marked(f"sleep {mark}")) >= 4)
        worker_pids = set(cluster.worker_pids())
        parents = {p.parent().pid for p in marked(f"sh -c echo up; sleep {mark}") if p.parent()}
        assert parents <= worker_pids  # (they run on the workers, not in the engine)
        until(
            "c to time out", lambda: _tasks(_show(tmp_path, cli_env))["c"]["status"] == "timed_out"
        )
        cancelled = run_pg(tmp_path, cli_env, "cancel", "last", "--reason", "enough")
        assert cancelled.returncode == 0, cancelled.stderr
        until("nothing left on the workers", lambda: marked(mark) == [])
        engine.communicate(timeout=60)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
    shown = _show(tmp_path, cli_env)
    assert shown["status"] == "cancelled"
    tasks_ = _tasks(shown)
    assert tasks_["a"]["status"] == "cancelled", [
        (t["status"], t["exit_code"], t["reason"]) for t in tasks_.values()
    ]
    assert tasks_["b"]["status"] == "cancelled", tasks_
    assert "never" not in run_pg(tmp_path, cli_env, "logs", "last").stdout


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_a_lost_task_retried_once_by_phasegate_not_dask(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    mark = _marker()
    run = (
        "sh -c 'echo $PHASEGATE_ATTEMPT >> attempts.log; "
        # (the retry runs 4 s: the run's ticks, a second apart, raise and then clear the risk)
        f"if [ $PHASEGATE_ATTEMPT = 1 ]; then sleep {mark}; else sleep 4; fi; echo done'"
    )
    tasks = f"""      - {{id: victim, run: "{run}", retries: 1, backoff: 0.1}}
"""
    (tmp_path / "plan.yaml").write_text(_plan(cluster, tasks))
    engine = spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
    try:
        until("the task to run on a worker", lambda: len(marked(f"sleep {mark}")) >= 2)
        leader = next(p for p in marked(f"sleep {mark}") if p.name() == "sh")
        worker = leader.parent()
        assert worker is not None and worker.pid in cluster.worker_pids()
        os.kill(worker.pid, signal.SIGKILL)
        out, err = engine.communicate(timeout=60)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
        cluster.replace_dead_workers()
    assert engine.returncode == 0, out + err
    assert (tmp_path / "attempts.log").read_text().split() == ["1", "2"]  # once more, not twice
    victim = _tasks(_show(tmp_path, cli_env))["victim"]
    assert victim["status"] == "succeeded" and victim["attempts"] == 2
    finished = _events(cli_env, "task.finished")
    assert [e["attempt"] for e in finished] == [1, 2]
    assert str(finished[0]["reason"]).startswith("lost: worker tcp://127.0.0.1:")
    until("the lost attempt's processes to go with its worker", lambda: marked(mark) == [])
    # the dashboard's risk: the agent, naming the worker and the task; cleared by the retry
    where = str(finished[0]["reason"]).split()[2]
    raised = [e for e in _events(cli_env, "risk.raised") if e["rule"] == "worker_lost"]
    assert len(raised) == 1, raised
    assert raised[0]["subject"] == "agent d"
    assert where in str(raised[0]["message"]) and "task victim" in str(raised[0]["message"])
    cleared = [e for e in _events(cli_env, "risk.cleared") if e["key"] == raised[0]["key"]]
    assert cleared, "the risk stays after the task's retry ran"


@pytest.mark.slow
def test_kill_9_of_the_engine_then_resume_runs_the_lost_task_again_and_nothing_twice(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    mark = _marker()
    long = (
        "sh -c 'echo $PHASEGATE_ATTEMPT >> long.log; "
        f"if [ $PHASEGATE_ATTEMPT = 1 ]; then sleep {mark}; fi'"
    )
    kept = long.replace("long.log", "kept.log")
    tasks = f"""      - {{id: first, run: "sh -c 'echo first >> first.log'"}}
      - {{id: long, run: "{long}", needs: [first]}}
      - {{id: kept, run: "{kept}", needs: [first], on_resume: adopt}}
      - {{id: after, run: "sh -c 'echo after >> first.log'", needs: [long, kept]}}
"""
    (tmp_path / "plan.yaml").write_text(_plan(cluster, tasks))
    started = run_pg(tmp_path, cli_env, "run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    until("long and kept to run on the workers", lambda: len(marked(f"sleep {mark}")) >= 4)
    pid = _show(tmp_path, cli_env)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    until("the engine to die", lambda: not psutil.pid_exists(pid) or _zombie(pid))
    # its Dask tasks went with its client: the workers stop their process groups
    until("nothing of the dead engine left on the workers", lambda: marked(mark) == [])
    resumed = run_pg(tmp_path, cli_env, "resume", "last", "--headless", timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (tmp_path / "first.log").read_text().split() == ["first", "after"]  # never twice
    assert (tmp_path / "long.log").read_text().split() == ["1", "2"]
    assert (tmp_path / "kept.log").read_text().split() == ["1", "2"]  # not adoptable: rerun
    recovered = _events(cli_env, "run.recovered")[-1]["tasks"]
    assert isinstance(recovered, list)
    actions = {e["task"]: (e["action"], e["note"]) for e in recovered}
    assert actions["long"][0] == "rerun" and actions["kept"][0] == "rerun"
    assert "went with the dead engine" in actions["kept"][1]
    shown = _tasks(_show(tmp_path, cli_env))
    assert {t["status"] for t in shown.values()} == {"succeeded"}


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_a_tasks_resources_choose_the_worker_that_has_them(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    gpu = cluster.start_worker(f"gpu-{uuid.uuid4().hex[:6]}", "--resources", "GPU=1")
    try:
        until("the GPU worker", lambda: cluster.count_workers() == 3, 60)
        # four tasks that use the GPU each write their ancestors (the worker among them)
        (tmp_path / "who.sh").write_text(
            "#!/bin/sh\np=$$; line=''\n"
            'while [ "$p" -gt 1 ]; do\n'
            "  p=$(awk '{print $4}' /proc/$p/stat); line=\"$line $p\"\ndone\n"
            "echo $line >> gpu.log\n"
        )
        (tmp_path / "who.sh").chmod(0o755)
        tasks = "".join(
            f"      - {{id: train{i}, run: {tmp_path / 'who.sh'}, uses: {{GPU: 1}}}}\n"
            for i in range(4)
        )
        plan = _plan(cluster, tasks).replace("phases:", "resources: {GPU: {capacity: 1}}\nphases:")
        (tmp_path / "plan.yaml").write_text(plan)
        done = run_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
        assert done.returncode == 0, done.stdout + done.stderr
        lines = (tmp_path / "gpu.log").read_text().splitlines()
        # each ran under the worker that declares GPU (all four there by chance: 1 in 81)
        assert len(lines) == 4 and all(str(gpu.pid) in line.split() for line in lines), (
            lines,
            gpu.pid,
        )
    finally:
        gpu.kill()
        gpu.wait(timeout=30)
        cluster.workers.remove(gpu)
        until("two Dask workers again", lambda: cluster.count_workers() == 2, 60)
