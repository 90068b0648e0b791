"""Steering from the command line: risks while a task overruns, skip, the dry run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import Run, show_last, spawn_pg, until

SLOW = """
name: slow
kill_grace: 1s
agents: {a: {slots: 2}}
phases:
  - id: only
    tasks:
      - {id: a, run: "sleep 0.3", estimate: 1s}
      - {id: b, run: "sleep 30", estimate: 1s}
      - {id: c, run: "touch c-ran", needs: [a]}
      - {id: d, run: "touch d-ran", needs: [c]}
"""


@pytest.mark.slow
def test_risks_skip_and_the_run_goes_on(pg: Run, tmp_path: Path, cli_env: dict[str, str]) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    proc = spawn_pg(tmp_path, cli_env, "run", "slow.yaml", "--headless")
    try:
        risks = _wait_for_overrun(pg)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    assert risks[0]["on"] == {"kind": "task", "id": "b"}, risks
    assert "past its estimate" in str(risks[0]["message"]) and risks[0]["action"]
    assert "task b" in pg("risks", "last").stdout
    skipped = pg("skip", "last", "b", "--reason", "not needed")
    assert skipped.returncode == 0, skipped.stderr
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert (tmp_path / "d-ran").exists()
    tasks = {t["id"]: t["status"] for t in json.loads(pg("show", "last", "--json").stdout)["tasks"]}
    assert tasks["b"] == "skipped" and tasks["d"] == "succeeded"
    refused = pg("pause", "last")
    assert refused.returncode == 1 and "no live engine" in refused.stderr


def _wait_for_overrun(pg: Run) -> list[dict[str, object]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the rules run once a second
        done = pg("risks", "last", "--json")
        if done.returncode == 0:
            found = [r for r in json.loads(done.stdout)["risks"] if r["key"] == "overrun:b"]
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError("no overrun risk for task b within 20 s")


def test_plan_dry_run_names_the_critical_path(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    done = pg("plan", "slow.yaml")
    assert done.returncode == 0
    assert "critical path (*): a -> c -> d" in done.stdout  # 3 s of estimates against b's 1 s
    assert "no estimate, 1s assumed: c, d" in done.stdout
    data = json.loads(pg("plan", "slow.yaml", "--json").stdout)
    assert data["critical_path"][0] in ("a", "b")
    assert {t["id"] for t in data["tasks"]} == {"a", "b", "c", "d"}
    assert not (tmp_path / "c-ran").exists()  # nothing ran
    assert pg("plan", "missing.yaml").returncode == 2


CONTENDED = """
name: contended
agents: {b: {slots: 1}, c: {slots: 1}}
resources: {db: {capacity: 1}}
phases:
  - id: only
    tasks:
      - {id: c0, run: "true", estimate: 2s, agent: c}
      - {id: c1, run: "true", estimate: 3s, agent: c, needs: [c0]}
      - {id: c2, run: "true", estimate: 1s, agent: c}
      - {id: b1, run: "true", estimate: 5s, agent: b}
  - id: db
    tasks:
      - {id: x, run: "true", estimate: 6s, agent: b}
      - {id: m, run: "true", estimate: 6s, agent: c, uses: {db: 1}}
      - {id: q, run: "true", estimate: 1s, agent: b, uses: {db: 1}}
"""


def test_plan_dry_run_follows_what_each_task_waited_for(pg: Run, tmp_path: Path) -> None:
    # c2 waited for agent c's only slot (c0, then c1), not for b1 on agent b that ended then;
    # q waited for db, which m held, not for x on q's own agent b
    (tmp_path / "contended.yaml").write_text(CONTENDED)
    done = pg("plan", "contended.yaml")  # (a pipe: lists whole)
    assert done.returncode == 0, done.stderr
    assert "critical path (*): c0 -> c1 -> c2 -> m -> q" in done.stdout
    assert "slot contention: q waits 6.0s for db, c2 waits 5.0s for c" in done.stdout
    data = json.loads(pg("plan", "contended.yaml", "--json").stdout)
    waited = {t["id"]: t["waited_for"] for t in data["tasks"]}
    assert waited["q"] == "db" and waited["c2"] == "c" and waited["x"] is None


def test_resume_goes_on_with_a_phase_paused_alone(pg: Run, tmp_path: Path) -> None:
    # (a risk rule's `pause` action, or `pause --phase`, pauses the phase: `resume RUN` said
    # "nothing to resume" and the run waited for good)
    (tmp_path / "held.yaml").write_text(
        "name: held\nagents: {a: {slots: 2}}\nphases:\n  - id: p\n    tasks:\n"
        "      - {id: first, run: 'sleep 1'}\n      - {id: then, run: 'true', needs: [first]}\n"
    )
    assert pg("run", "held.yaml", "--detach").returncode == 0
    try:
        paused = pg("pause", "last", "--phase", "p")
        assert paused.returncode == 0, paused.stderr
        resumed = pg("resume", "last")
        assert resumed.returncode == 0, resumed.stderr
        assert "nothing to resume" not in resumed.stdout, resumed.stdout
        until("the run's end", lambda: show_last(pg)["status"] != "running", 20)
        assert show_last(pg)["status"] == "succeeded"
    finally:
        pg("cancel", "last")
