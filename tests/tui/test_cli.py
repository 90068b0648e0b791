"""The command-line contract: exit codes, JSON shapes, history commands, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
from pathlib import Path

import psutil

from .conftest import PHASEGATE, Run, spawn_pg

PIPELINE = """
name: pipeline
agents:
  maker: {capabilities: [make], slots: 2}
  inspector: {capabilities: [inspect]}
phases:
  - id: prepare
    tasks:
      - id: gather
        run: mkdir -p work && echo data > work/data.txt && echo gathered
        agent: maker
        outputs: [work/data.txt]
  - id: produce
    tasks:
      - {id: left, run: echo left, capability: make, needs: [gather]}
      - id: right
        run: test "$PHASEGATE_ATTEMPT" -ge 2 && echo right
        capability: make
        needs: [gather]
        retries: 1
        backoff: 0
      - {id: inspect, run: echo inspect, agent: inspector, needs: [left, right]}
"""


def _one(name: str, run: str, extra: str = "") -> str:
    """A one-task plan."""
    return (
        f"name: {name}\n{extra}agents: {{a: {{}}}}\n"
        f"phases: [{{id: p, tasks: [{{id: t, run: '{run}'}}]}}]\n"
    )


def _plan(tmp_path: Path, text: str, name: str = "plan.yaml") -> str:
    (tmp_path / name).write_text(textwrap.dedent(text))
    return name


def test_headless_run_then_history(pg: Run, tmp_path: Path) -> None:
    plan = _plan(tmp_path, PIPELINE)
    done = pg("run", plan, "--headless")
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout.splitlines()[-1]
    assert "right" in done.stdout and "retrying" in done.stdout

    runs = json.loads(pg("runs", "--json").stdout)["runs"]
    assert runs[0]["status"] == "succeeded" and runs[0]["plan"] == "pipeline"
    assert runs[0]["counts"] == {"succeeded": 4}

    shown = json.loads(pg("show", "last", "--json").stdout)
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert tasks["right"]["attempts"] == 2
    assert {t["status"] for t in tasks.values()} == {"succeeded"}
    assert tasks["gather"]["phase"] == "prepare" and tasks["gather"]["agent"] == "maker"
    assert tasks["gather"]["exit_code"] == 0 and tasks["gather"]["started_at"]

    prefix = runs[0]["id"][:4]
    text = pg("show", prefix)
    assert text.returncode == 0 and "inspect" in text.stdout

    logs = pg("logs", "last", "gather")
    assert logs.returncode == 0 and logs.stdout == "gathered\n"
    every = pg("logs", "last")
    assert "left | left" in every.stdout and "inspect | inspect" in every.stdout


def test_runs_are_listed_newest_first(pg: Run, tmp_path: Path) -> None:
    ok = _plan(
        tmp_path,
        "name: ok\nagents: {a: {}}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n",
        "ok.yaml",
    )
    bad = _plan(
        tmp_path,
        "name: bad\nagents: {a: {}}\nphases: [{id: p, tasks: [{id: t, run: 'false'}]}]\n",
        "bad.yaml",
    )
    assert pg("run", ok, "--headless").returncode == 0
    failed = pg("run", bad, "--headless")
    assert failed.returncode == 1
    assert "failed" in failed.stdout
    runs = json.loads(pg("runs", "--json").stdout)["runs"]
    assert [r["plan"] for r in runs] == ["bad", "ok"]
    assert [r["status"] for r in runs] == ["failed", "succeeded"]
    listing = pg("runs").stdout
    assert listing.index("bad") < listing.index("ok")


def test_invalid_plan_is_refused_with_exit_2_and_nothing_runs(pg: Run, tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        "name: x\nagents: {a: {}}\n"
        "phases: [{id: p, tasks: [{id: t, run: 'touch ran', agent: b}]}]\n",
    )
    done = pg("run", plan, "--headless")
    assert done.returncode == 2
    assert "plan.yaml:3:" in done.stderr and "agent 'b' is not defined" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists()
    # nothing was recorded: not even a database (`runs` lists none, and makes none)
    listed = pg("runs", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["runs"] == []
    assert not (tmp_path / "data").exists()
    assert "no runs yet (no database at" in pg("runs").stdout


def test_unknown_run_and_bad_usage_exit_2(pg: Run, tmp_path: Path) -> None:
    none = pg("show", "last")
    assert none.returncode == 2 and "no runs yet" in none.stderr
    _plan(tmp_path, _one("ok", "true"))
    assert pg("run", "plan.yaml", "--headless").returncode == 0
    missing = pg("show", "nope")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    assert pg("logs", "last", "no-such-task").returncode == 2
    assert pg("run", "plan.yaml", "--var", "novalue").returncode == 2
    assert pg("frobnicate").returncode == 2
    for out in (none, missing):
        assert "Traceback" not in out.stderr


def test_var_overrides_plan_variables(pg: Run, tmp_path: Path) -> None:
    _plan(tmp_path, _one("v", "echo hi {who}", "vars: {who: plan}\n"))
    assert pg("run", "plan.yaml", "--headless", "--var", "who=cli").returncode == 0
    assert pg("logs", "last", "t").stdout == "hi cli\n"


def test_schema_is_json_schema_for_plans(pg: Run) -> None:
    schema = json.loads(pg("schema").stdout)
    assert schema["title"] == "phasegate plan"
    assert {"name", "agents", "phases", "gates"} <= set(schema["properties"])
    assert set(schema["required"]) == {"name", "agents", "phases"}
    task = schema["$defs"]["Task"]
    assert task["required"] == ["id"] and task["additionalProperties"] is False
    # durations and sizes may be written as text (`1h30m`, `500MB`): an editor must accept them
    assert task["properties"]["backoff"]["type"] == ["number", "string"]
    assert {"type": ["number", "string"]} in task["properties"]["timeout"]["anyOf"]
    assert schema["properties"]["output_cap"]["type"] == ["integer", "string"]


def _run_until_started(
    tmp_path: Path, env: dict[str, str], text: str
) -> tuple[subprocess.Popen[str], str]:
    plan = _plan(tmp_path, text)
    proc = spawn_pg(tmp_path, env, "run", plan, "--headless")
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "phasegate: run ID of ..."
    run_id = first.split()[2]
    for line in proc.stdout:  # blocks until the engine reports the task started
        if "started" in line and "deep" in line:
            break
    return proc, run_id


def _left_behind(run_id: str) -> list[psutil.Process]:
    left = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("PHASEGATE_RUN_ID") == run_id and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except psutil.Error:
            continue
    return left


GRANDCHILD = """
name: deep
agents: {a: {}}
phases:
  - id: p
    tasks:
      - {id: deep, run: "sh -c 'sleep 300 & sleep 300 & wait'"}
      - {id: later, run: "true", needs: [deep]}
"""


def test_ctrl_c_kills_every_process_group_and_records_the_run_cancelled(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc, run_id = _run_until_started(tmp_path, cli_env, GRANDCHILD)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted by Ctrl-C" in err
    assert _left_behind(run_id) == []
    shown = json.loads(pg("show", run_id, "--json").stdout)
    assert shown["status"] == "cancelled"
    # a dependent of a cancelled task is blocked (DECISIONS: statuses)
    assert {t["id"]: t["status"] for t in shown["tasks"]} == {
        "deep": "cancelled",
        "later": "blocked",
    }


def test_sigterm_stops_the_run_with_exit_143(
    tmp_path: Path, cli_env: dict[str, str], pg: Run
) -> None:
    proc, run_id = _run_until_started(tmp_path, cli_env, GRANDCHILD)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert _left_behind(run_id) == []
    assert json.loads(pg("show", run_id, "--json").stdout)["status"] == "cancelled"


def test_database_location_follows_db_option(pg: Run, tmp_path: Path) -> None:
    _plan(tmp_path, _one("ok", "true"))
    db = tmp_path / "elsewhere" / "runs.db"
    assert pg("run", "plan.yaml", "--headless", "--db", str(db)).returncode == 0
    assert db.exists()
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    assert oct(db.parent.stat().st_mode & 0o777) == "0o700"
    assert json.loads(pg("runs", "--json", "--db", str(db)).stdout)["runs"][0]["plan"] == "ok"


def test_logs_follow_prints_lines_as_they_come_until_the_run_ends(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    _plan(
        tmp_path,
        _one("slow", 'sh -c "for i in 1 2 3 4 5; do echo line \\$i; sleep 0.2; done"'),
    )
    with spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless") as run:
        try:
            assert run.stdout is not None
            for line in run.stdout:  # wait until the task runs
                if "started" in line:
                    break
            follow = subprocess.run(
                [PHASEGATE, "logs", "last", "t", "-f"],
                cwd=tmp_path,
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=30,
            )
        finally:
            run.communicate(timeout=30)
    assert follow.returncode == 0
    assert follow.stdout.splitlines() == [f"line {i}" for i in range(1, 6)]


def test_logs_follow_stops_when_the_engine_is_gone_even_if_not_yet_reaped(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    _plan(tmp_path, _one("quick", "echo done"))
    with spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless") as run:
        assert run.stdout is not None
        run.stdout.read()  # the engine has exited; it stays a zombie until waited for
        follow = subprocess.run(
            [PHASEGATE, "logs", "last", "-f"],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        run.communicate(timeout=30)
    assert follow.returncode == 0 and follow.stdout == "t | done\n"
