"""Regression, as a user meets it: SIGTERM to a headless run while its manual gate waited said
`gate rejected - stopped by SIGTERM` in the audit (and `rejected` in `gates`), as if a person had
rejected it, and the dry run of the next run expected that wait as an approval wait."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import GATED_PLAN, Run, spawn_pg


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    (tmp_path / "stopped.yaml").write_text(GATED_PLAN)
    proc = spawn_pg(tmp_path, env, "run", "stopped.yaml", "--headless")
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the engine says the gate waits
        if "waits for approval" in line:
            return proc
    raise AssertionError(f"the gate never waited: {proc.communicate(timeout=30)}")


@pytest.mark.slow
def test_a_gate_waiting_when_sigterm_stops_the_run_is_not_decided_nor_a_wait(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # an earlier run whose gate a person approved: its wait is the history
    first = _start(tmp_path, cli_env)
    assert pg("approve", "last", "review").returncode == 0
    first.communicate(timeout=30)
    assert first.returncode == 0
    gate = json.loads(pg("gates", "last", "--json").stdout)["gates"][0]
    waited = gate["closed_at"] - gate["opened_at"]
    # this run is stopped by SIGTERM while its gate waits
    proc = _start(tmp_path, cli_env)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "gate review rejected" not in out
    shown = pg("gates", "last")
    assert shown.returncode == 0, shown.stderr
    assert "not decided" in shown.stdout and "rejected" not in shown.stdout
    assert "review: not decided, the run ended first: stopped by SIGTERM" in shown.stdout
    assert "phasegate approve" not in shown.stdout  # (nothing can decide it now)
    listed = json.loads(pg("gates", "last", "--json").stdout)["gates"]
    assert [(g["id"], g["status"]) for g in listed] == [("review", "not_decided")]
    rows = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    about = [(r["decision"], r["reason"]) for r in rows if r["gate"] == "review"]
    assert about == [("gate not decided", "the run ended first: stopped by SIGTERM")]
    assert "gate not decided" in pg("audit", "last").stdout
    run = json.loads(pg("show", "last", "--json").stdout)
    assert run["status"] == "cancelled" and run["metrics"]["quality_compliance"] is None
    # the dry run expects the approved run's wait alone
    dry = json.loads(pg("plan", "stopped.yaml", "--json").stdout)
    assert dry["gate_waits"] == {"review": pytest.approx(waited, abs=1e-3)}
    assert "median of 1 earlier run;" in pg("plan", "stopped.yaml").stdout


def test_the_phase_panel_says_not_decided_of_a_gate_open_when_the_run_ended() -> None:
    from phasegate.engine.model.state import GateState
    from phasegate.engine.model.statuses import GateStatus
    from phasegate.tui.dashboard.widgets.phases import gate_label

    g = GateState("review", "first", status=GateStatus.OPEN)
    assert gate_label(g, run_ended=False).plain == "waiting for approval"
    assert gate_label(g, run_ended=True).plain == "not decided"
