"""Reaching the people (issue 16, point 11): the plan's `notify:` command hears of a gate that
waits and of the run's end, never failing the run; `phasegate gates --wait` returns when a gate
the caller may decide opens, and gives up with exit 1 or 130."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psutil

from phasegate.engine.model.identity import current_identity

from .conftest import Run, spawn_pg, until

ME = current_identity().user

GATED = """
name: gated
agents: {{a: {{}}}}
# (off: a machine kept busy by others, as by the tests running beside this one, is a risk that
# the gate `clean` below would fail on; this plan is about the notify command)
risks: {{cpu: 0, memory: 0, disk: 0}}
{notify}
phases:
  - id: first
    tasks: [{{id: one, run: "echo one"}}]
  - id: second
    tasks: [{{id: two, run: "echo two"}}]
gates:
  - {{id: review, after: first, criteria: [{{run: "true"}}]{extra}}}
  # a notify command that failed is no risk of the work: this gate's evidence ignores it
  - {{id: clean, after: second, approval: auto, criteria: [{{no_risks: info}}]}}
"""


def _start(
    tmp_path: Path, env: dict[str, str], notify: str = "", extra: str = ""
) -> subprocess.Popen[str]:
    """The gated plan, run headless in the background; returns once its gate waits."""
    (tmp_path / "gated.yaml").write_text(GATED.format(notify=notify, extra=extra))
    proc = spawn_pg(tmp_path, env, "run", "gated.yaml", "--headless")
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the engine says the gate waits
        if "waits for approval" in line:
            break
    return proc


def _lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_notify_command_reads_the_gate_and_the_runs_end_as_json(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    told = tmp_path / "told.jsonl"
    proc = _start(tmp_path, cli_env, notify='notify: "cat >> told.jsonl"')
    until("the notify command to hear of the gate", lambda: len(_lines(told)) == 1)
    run_id = json.loads(pg("show", "last", "--json").stdout)["id"]
    gate = _lines(told)[0]
    assert gate["kind"] == "gate.opened" and gate["gate"] == "review"
    assert (gate["run_id"], gate["plan"], gate["after"]) == (run_id, "gated", "first")
    assert (gate["approvers"], gate["quorum"], gate["attempt"]) == ([], 1, 1)
    assert gate["hint"] == f"phasegate approve {run_id} review"
    assert isinstance(gate["time"], float) and gate["started_by"] == ME
    assert pg("approve", "last", "review").returncode == 0
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # the run's end is told before the engine exits; the auto gate is nobody's to decide
    kinds = [(m["kind"], m["status"]) for m in _lines(told)]
    assert kinds == [("gate.opened", None), ("run.finished", "succeeded")]


def test_a_failing_notify_command_is_a_warning_and_the_run_succeeds(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc = _start(tmp_path, cli_env, notify="notify: \"sh -c 'echo nobody listens >&2; exit 3'\"")

    def raised() -> bool:
        risks = json.loads(pg("risks", "last", "--json").stdout)["risks"]
        return any(r["rule"] == "notify" for r in risks)

    until("the notify risk", raised)
    assert pg("approve", "last", "review").returncode == 0
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "the notify command `sh -c 'echo nobody listens >&2; exit 3'` failed" in err
    assert "exit 3: nobody listens" in err and "Traceback" not in err
    shown = json.loads(pg("show", "last", "--json").stdout)
    assert shown["status"] == "succeeded"


def test_gates_wait_returns_when_a_gate_for_the_caller_opens(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    waiter = spawn_pg(tmp_path, cli_env, "gates", "--wait", "--timeout", "60")
    proc = _start(tmp_path, cli_env)
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert "review" in out and "open" in out and "phasegate approve" in out
    assert pg("approve", "last", "review").returncode == 0
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_gates_wait_ignores_a_gate_the_caller_may_not_decide(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc = _start(tmp_path, cli_env, extra=", approvers: [daemon]")
    assert "review" in pg("gates").stdout  # it waits, for somebody else
    done = pg("gates", "--wait", "--timeout", "0.5")
    assert done.returncode == 1, done.stderr
    assert f"no gate of any live run waited for {ME} within 0.5s" in done.stderr
    proc.terminate()
    proc.communicate(timeout=30)
    ended = pg("gates", "last", "--wait")  # a run that ended: no gate of it will open
    assert ended.returncode == 1 and "no live engine" in ended.stderr


def test_gates_wait_times_out_with_exit_1_and_ctrl_c_exits_130(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    done = pg("gates", "--wait", "--timeout", "0.3")
    assert done.returncode == 1
    assert done.stderr.startswith("phasegate: no gate of any live run waited for")
    assert "Traceback" not in done.stderr
    usage = pg("gates", "--timeout", "3")
    assert usage.returncode == 2 and "--timeout goes with --wait" in usage.stderr
    # (a waiter before any run waits for the database to appear, and holds no file open: a
    # finished run makes it, so that the waiter's open database says it is watching)
    (tmp_path / "one.yaml").write_text(
        "name: one\nagents: {a: {}}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n"
    )
    assert pg("run", "one.yaml", "--headless", "-q").returncode == 0
    waiter = spawn_pg(tmp_path, cli_env, "gates", "--wait")

    def watching() -> bool:  # (a signal during start-up would meet Python's import, not us)
        files = psutil.Process(waiter.pid).open_files()
        return any(f.path.endswith("phasegate.db") for f in files)

    until("the waiter to watch the store", watching)
    waiter.send_signal(signal.SIGINT)
    _, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 130, err
    assert "stopped waiting" in err and "Traceback" not in err
