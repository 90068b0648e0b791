"""Agents on a Dask cluster (`executor: {dask: ...}`), against a real scheduler and two workers
(conftest): each task runs once, its output in order, cancel and timeout leave nothing on the
workers, a worker's death is a lost task retried by phasegate (never by Dask), and a dead
engine's tasks are stopped on the workers and run again by `resume`."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Cluster, run_pg


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
