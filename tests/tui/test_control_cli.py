"""Steering from the command line: risks while a task overruns, skip, the dry run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import Run, spawn_pg

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
