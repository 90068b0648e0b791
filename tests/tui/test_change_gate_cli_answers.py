"""A change gate from the command line: an approval the engine could not apply (the run has
moved past the change) says so and exits 1 (it printed `...: it rejected` and exited 0), and
`gates` says `not applied` with the reason; `gates --wait` wakes for a change gate (it waited
only for phases' gates, then said that no gate waited)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Run, show_last, spawn_pg, until

pytestmark = pytest.mark.slow  # (a whole engine process)

# `a` runs until the file `go` exists; `b` keeps the run alive until `done` exists
PLAN = """name: late-change
agents: {m: {}}
phases:
  - id: work
    tasks: [{id: a, run: 'while [ ! -e go ]; do sleep 0.05; done', agent: m}]
  - id: next
    tasks: [{id: b, run: 'while [ ! -e done ]; do sleep 0.05; done', agent: m}]
"""


def _task(pg: Run, task: str) -> str:
    tasks = show_last(pg)["tasks"]
    assert isinstance(tasks, list)
    return str(next(t["status"] for t in tasks if t["id"] == task))


def test_an_approval_the_run_has_moved_past_is_not_applied(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PLAN)
    assert pg("run", "p.yaml", "--detach").returncode == 0
    until("a to run", lambda: _task(pg, "a") == "running")
    (tmp_path / "new.yaml").write_text(PLAN.replace("sleep 0.05; done'", "sleep 0.1; done'", 1))
    try:
        assert pg("amend", "last", "new.yaml", "--restart", "a").returncode == 0
        (tmp_path / "go").write_text("")
        until("a to end", lambda: _task(pg, "a") == "succeeded")
        done = pg("approve", "last", "change-1", "--reason", "late")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "approved change-1 of run" in done.stderr
        assert "not applied: the run has moved on: task 'a' has finished" in done.stderr
        gates = pg("gates", "last")
        assert "not applied" in gates.stdout and "rejected" not in gates.stdout, gates.stdout
        assert "change-1: not applied, the run has moved on: " in gates.stdout
        [shown] = json.loads(pg("gates", "last", "--json").stdout)["gates"]
        assert shown["status"] == "not_applied"
    finally:
        (tmp_path / "go").write_text("")
        (tmp_path / "done").write_text("")
    until("the run to end", lambda: show_last(pg)["status"] != "running")
    assert show_last(pg)["status"] == "succeeded"


def test_gates_wait_wakes_for_a_change_gate(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "p.yaml").write_text(PLAN)
    assert pg("run", "p.yaml", "--detach").returncode == 0
    until("a to run", lambda: _task(pg, "a") == "running")
    waiting = spawn_pg(tmp_path, cli_env, "gates", "--wait", "--timeout", "30")
    try:
        (tmp_path / "new.yaml").write_text(
            PLAN.replace("agents: {m: {}}", "agents: {m: {slots: 2}}")
        )
        assert pg("amend", "last", "new.yaml").returncode == 0
        out, err = waiting.communicate(timeout=90)
        assert waiting.returncode == 0, err
        assert "change-1" in out and "decide: phasegate approve" in out, out
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
        (tmp_path / "go").write_text("")
        (tmp_path / "done").write_text("")
    until("the run to end", lambda: show_last(pg)["status"] != "running")
