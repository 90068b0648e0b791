"""An agent's `env:` is the environment of its tasks, a plain command agent's too (README: the
plan's, agent's and task's `env`), the task's own `env` winning over its agent's, and the
PHASEGATE_* variables over both."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model.statuses import TaskStatus

from .helpers import run_plan

PLAN = """
name: envt
agents:
  w: {slots: 1, env: {AE: agentval, BOTH: fromagent}}
  w2: {slots: 1, command: "sh -c {script}", env: {AE: agentval2}}
phases:
  - id: p1
    tasks:
      - {id: t1, run: 'echo "AE=$AE BOTH=$BOTH TE=$TE"', agent: w, env: {TE: te, BOTH: fromtask}}
      - {id: t2, run: 'echo "AE=$AE TE=$TE"', agent: w2, env: {TE: te}}
"""


async def test_agent_env_reaches_its_command_tasks(tmp_path: Path) -> None:
    state, store = await run_plan(tmp_path, PLAN)
    assert {t.status for t in state.tasks.values()} == {TaskStatus.SUCCEEDED}
    said = {t: [o.text for o in await store.read_output("run1", t)] for t in ("t1", "t2")}
    assert said == {"t1": ["AE=agentval BOTH=fromtask TE=te"], "t2": ["AE=agentval2 TE=te"]}
