"""A task an amendment adds, whose output a run's variable moves out of the workdir, ends
`failed` without being started (the run's start refused such a plan: engine/run/endings)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, until

PLAN = """\
name: outs
vars: {name: ../escaped}
agents: {w: {}}
phases:
  - id: p
    tasks:
      - {id: a, run: "sleep 0.5", agent: w}
"""
ADDED = '      - {id: b, run: "echo x > {name}.dat", agent: w, outputs: ["{name}.dat"]}\n'


async def test_an_amended_tasks_output_moved_out_of_the_workdir_never_runs(
    tmp_path: Path,
) -> None:
    work = tmp_path / "w"
    work.mkdir()
    said: list[dict[str, Any]] = []

    text = PLAN.replace("name: outs", f"name: outs\nworkdir: {work}")

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["a"].status is TaskStatus.RUNNING)
        answer = command(runner, "amend", {"text": textwrap.dedent(text + ADDED), "restart": ""})
        said.append(json.loads(answer["event"]["data"]))
        command(runner, "approve", {"gate": said[0]["change"]})  # (the change, proposed)

    state, _ = await operated(tmp_path, text, operator)
    assert said and said[0]["change"] == "change-1", said
    assert state.tasks["b"].status is TaskStatus.FAILED, state.tasks["b"]
    assert "outside the workdir" in state.tasks["b"].reason
    assert not (tmp_path / "escaped.dat").exists()
