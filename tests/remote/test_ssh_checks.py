"""What the engine checks on an agent's host over SSH, against a real sshd on 127.0.0.1
(tests/remote/conftest.py): its `ready` probe runs there, a task's declared outputs are looked
for there, the roster shows the host and its round trip, and a host out of reach is a risk."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from phasegate.engine.model.state import RiskState
from phasegate.engine.model.statuses import AgentStatus, TaskStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.agents import AgentRoster

from ..engine.helpers import run_plan
from ..tui.helpers import SIZE, dashboard, text, until_shown
from .conftest import Sshd, stop_left
from .test_ssh import _running, _until

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"


async def test_a_ready_probe_runs_on_the_agents_host(
    sshd: Sshd, tmp_path: Path, run_id: str
) -> None:
    far = tmp_path / "far"
    far.mkdir()
    (far / "only-there").touch()  # in the remote workdir, not in the plan's
    there = 'sh -c "test -n \\"$SSH_CONNECTION\\" && test -e only-there"'
    plan = f"""
    name: remote
    agents:
      good: {{{sshd.agent_yaml(workdir=str(far))}, ready: '{there}'}}
      bad: {{{sshd.agent_yaml()}, ready: "sh -c 'echo not yet; exit 4'"}}
    phases:
      - id: one
        tasks:
          - {{id: t, run: "true", agent: good}}
    """
    state, _ = await run_plan(tmp_path, plan, run_id=run_id)
    good, bad = state.agents["good"], state.agents["bad"]
    assert good.detail == "ready" and state.tasks["t"].status is TaskStatus.SUCCEEDED
    assert bad.status is AgentStatus.NOT_READY
    assert bad.detail == f"`sh -c 'echo not yet; exit 4'` exited 4 on {sshd.host}: not yet"


async def test_declared_outputs_are_looked_for_on_the_host(
    sshd: Sshd, tmp_path: Path, run_id: str
) -> None:
    far = tmp_path / "far"
    far.mkdir()
    (tmp_path / "missing.out").touch()  # here, beside the plan: not where the task ran
    plan = f"""
    name: remote
    agents:
      far: {{{sshd.agent_yaml(workdir=str(far))}}}
    phases:
      - id: one
        tasks:
          - {{id: writes, run: "sh -c 'echo hi > writes.out'", outputs: ["{{task}}.out"]}}
          - {{id: missing, run: "true", outputs: ["{{task}}.out"], on_failure: continue}}
    """
    state, _ = await run_plan(tmp_path, plan, run_id=run_id)
    assert state.tasks["writes"].status is TaskStatus.SUCCEEDED
    assert (far / "writes.out").read_text() == "hi\n" and not (tmp_path / "writes.out").exists()
    missing = state.tasks["missing"]
    assert missing.status is TaskStatus.FAILED
    assert missing.reason == "declared output '{task}.out' was not produced"  # (as a local one)


@pytest.mark.slow
async def test_show_and_the_roster_have_the_agents_host_and_round_trip(
    sshd: Sshd, tmp_path: Path, run_id: str
) -> None:
    plan = f"""
    name: remote
    agents:
      far: {{{sshd.agent_yaml()}}}
      here: {{}}
    phases:
      - id: one
        tasks:
          - {{id: t, run: "sleep 2", agent: far}}
          - {{id: u, run: "true", agent: here}}
    """
    db = str(tmp_path / "pg.db")
    store = await SQLiteStore.open(db)
    try:
        state, _ = await run_plan(tmp_path, plan, run_id=run_id, store=store)  # type: ignore[arg-type]
    finally:
        await store.close()
    assert state.tasks["t"].status is TaskStatus.SUCCEEDED
    env = dict(os.environ, PHASEGATE_DB=db, NO_COLOR="1")
    done = subprocess.run(
        [PHASEGATE, "show", run_id, "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    agents = {a["id"]: a for a in json.loads(done.stdout)["agents"]}
    far = agents["far"]
    assert far["host"] == sshd.host and far["unreachable"] is None
    assert isinstance(far["rtt_ms"], float) and 0 < far["rtt_ms"] < 5000
    assert "host" not in agents["here"]
    shown = "127.0.0.1 " + ("<1" if far["rtt_ms"] < 1 else f"{far['rtt_ms']:.0f}")
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await until_shown(
            pilot,
            f"{shown}ms in the roster",
            lambda: f"{shown}ms" in text(screen.query_one(AgentRoster)),
        )
        roster = text(screen.query_one(AgentRoster))
    assert f"{shown}ms" in roster, roster


@pytest.mark.slow
async def test_a_host_out_of_reach_is_a_risk_until_its_connection_is_back(
    sshd: Sshd, tmp_path: Path, run_id: str
) -> None:
    marker = f"pg-{uuid.uuid4().hex[:10]}"
    flag = tmp_path / "go"
    plan = f"""
    name: remote
    agents:
      far: {{{sshd.agent_yaml(connect_timeout="60s")}}}
    phases:
      - id: one
        tasks:
          - id: long
            run: "echo before; while [ ! -e {flag} ]; do sleep 0.05; done; echo after # {marker}"
    """
    runners: list[Runner] = []
    seen: list[str] = []

    def risk() -> RiskState | None:
        return runners[0].state.risks.get("host_unreachable:far")

    async def cut_then_mend() -> None:
        await _until("the remote task", lambda: _running(marker))
        sshd.stop()
        await _until("the risk", lambda: risk() is not None and risk().open)  # type: ignore[union-attr]
        raised = risk()
        assert raised is not None
        seen.append(f"{raised.subject}: {raised.message} ({raised.action})")
        agent = runners[0].state.agents["far"]
        await _until("the roster told", lambda: agent.unreachable and agent.rtt_ms is None)
        sshd.start()
        await _until("the risk cleared", lambda: not risk().open)  # type: ignore[union-attr]
        await _until("measured again", lambda: not agent.unreachable and agent.rtt_ms)
        flag.touch()

    watcher = asyncio.ensure_future(cut_then_mend())
    try:
        state, _ = await run_plan(tmp_path, plan, run_id=run_id, on_runner=runners.append)
        await watcher
    finally:
        stop_left(tmp_path)
    t = state.tasks["long"]
    assert t.status is TaskStatus.SUCCEEDED and t.attempts == 1  # followed on, not run again
    assert seen[0].startswith(f"agent far: host {sshd.host} unreachable since "), seen
    assert seen[0].endswith(
        "(check the host or the network; its tasks fail after connect_timeout)"
    ), seen
