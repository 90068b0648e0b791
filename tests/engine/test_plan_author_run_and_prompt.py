"""A task with both `run` and `prompt` is warned of (validate says `ok (N warnings)`, exit 0)
when its agents all use the one and ignore the other: a command agent runs `run` (its `prompt`
is ignored), a coding agent is asked `prompt` (its `run` is ignored). Agents of both kinds (by
capability) may each use one of them: no warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from phasegate.engine.plan import validate_file

from .helpers import write_plan

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

PLAN = """
name: both
agents:
  sh: {capabilities: [build]}
  coder: {kind: claude, capabilities: [code, build]}
  coder2: {kind: codex, capabilities: [code]}
phases:
  - id: one
    tasks:
      - {id: a, run: make, prompt: "build it", agent: sh}
      - {id: b, run: make, prompt: "fix it", agent: coder}
      - {id: c, run: make, prompt: "fix it", capability: code}
      - {id: d, run: make, prompt: "fix it", capability: build}
      - {id: e, prompt: "fix it", agent: coder}
      - {id: f, run: make, agent: sh}
"""


def test_a_task_with_run_and_prompt_is_warned_of(tmp_path: Path) -> None:
    found = validate_file(str(write_plan(tmp_path, PLAN)))
    assert all(p.warning for p in found), found
    said = {p.key: p.message for p in found}
    assert set(said) == {
        "phases[0].tasks[0].prompt",
        "phases[0].tasks[1].run",
        "phases[0].tasks[2].run",
    }
    assert said["phases[0].tasks[0].prompt"].startswith(
        "task 'a' has both `run` and `prompt`: its agent 'sh' runs commands, so its `prompt` "
        "is ignored; remove `prompt`"
    )
    assert said["phases[0].tasks[1].run"].startswith(
        "task 'b' has both `run` and `prompt`: its agent 'coder' is a coding agent, asked the "
        "`prompt`, so its `run` is ignored; remove `run`"
    )
    assert "every agent with capability 'code' is a coding agent" in said["phases[0].tasks[2].run"]


def test_validate_exits_zero_with_the_warning(tmp_path: Path) -> None:
    path = write_plan(tmp_path, PLAN)
    done = subprocess.run(
        [PHASEGATE, "validate", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"{path}: ok (3 warnings)\n"
    assert f"{path}:10: phases[0].tasks[0].prompt: warning: task 'a' has both" in done.stderr


def test_the_plans_one_agent_counts(tmp_path: Path) -> None:
    plan = """
    name: one
    agents: {coder: {kind: gemini}}
    phases:
      - id: one
        tasks: [{id: a, run: make, prompt: "fix it"}]
    """
    [found] = validate_file(str(write_plan(tmp_path, plan)))
    assert found.warning and found.key == "phases[0].tasks[0].run"
    assert "its agent 'coder' is a coding agent" in found.message
