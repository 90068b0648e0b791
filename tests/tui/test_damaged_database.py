"""A database damaged under a running run (truncated by a full disk, a bad copy, a hand) ends
the run as failed, saying so: what it recorded cannot be trusted, so it is never `succeeded`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import Run, spawn_pg, until

PLAN = """
name: damaged
agents: {a: {}}
phases:
  - id: p
    tasks:
      - {id: wait, run: "sh -c 'while [ ! -e go ]; do sleep 0.05; done; echo went'"}
      - {id: after, run: "echo after", needs: [wait]}
"""


def test_a_database_truncated_mid_run_fails_the_run_with_the_reason(
    tmp_path: Path, pg: Run, cli_env: dict[str, str]
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "go").touch()
    for _ in range(3):  # earlier runs: a database of several pages
        assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    (tmp_path / "go").unlink()
    run = spawn_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless")
    db = Path(cli_env["PHASEGATE_DB"])
    until("the task to start", lambda: _running(pg))
    os.truncate(db, 8192)
    (tmp_path / "go").touch()
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, out + err
    said = out + err
    # (damage found by the check at the run's end, or by a write before it)
    assert "the database is damaged" in said or "database disk image is malformed" in said
    assert "succeeded in" not in said and "Traceback" not in said


def _running(pg: Run) -> bool:
    done = pg("show", "last", "--json")
    if done.returncode != 0:
        return False
    tasks = {t["id"]: t["status"] for t in json.loads(done.stdout)["tasks"]}
    return tasks.get("wait") == "running"
