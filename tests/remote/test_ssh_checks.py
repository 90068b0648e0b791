"""What the engine checks on an agent's host over SSH, against a real sshd on 127.0.0.1
(tests/remote/conftest.py): its `ready` probe runs there, a task's declared outputs are looked
for there, the roster shows the host and its round trip, and a host out of reach is a risk."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model.statuses import AgentStatus, TaskStatus

from ..engine.helpers import run_plan
from .conftest import Sshd


async def test_a_ready_probe_runs_on_the_agents_host(sshd: Sshd, tmp_path: Path) -> None:
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
    state, _ = await run_plan(tmp_path, plan)
    good, bad = state.agents["good"], state.agents["bad"]
    assert good.detail == "ready" and state.tasks["t"].status is TaskStatus.SUCCEEDED
    assert bad.status is AgentStatus.NOT_READY
    assert bad.detail == f"`sh -c 'echo not yet; exit 4'` exited 4 on {sshd.host}: not yet"


async def test_declared_outputs_are_looked_for_on_the_host(sshd: Sshd, tmp_path: Path) -> None:
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
    state, _ = await run_plan(tmp_path, plan)
    assert state.tasks["writes"].status is TaskStatus.SUCCEEDED
    assert (far / "writes.out").read_text() == "hi\n" and not (tmp_path / "writes.out").exists()
    missing = state.tasks["missing"]
    assert missing.status is TaskStatus.FAILED
    assert missing.reason == "declared output '{task}.out' was not produced"  # (as a local one)
