"""A plan's gate and the change gate an amendment opens never share an id: an amendment's id
skips any id a gate of the plan has, and an amendment may not add a gate named as one of the
run's change gates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, until

PLAN = """\
name: collide
agents: {w: {}}
phases:
  - {id: one, tasks: [{id: a, run: "true", agent: w}]}
  - {id: two, tasks: [{id: b, run: "true", agent: w}]}
gates:
  - {id: change-1, after: one}
"""


async def test_an_amendment_skips_the_id_of_a_plan_gate_and_a_gate_may_not_take_a_change_s(
    tmp_path: Path,
) -> None:
    """Regression: with a plan gate `change-1`, the first amendment opened `change-1` too;
    approving it passed the change, and the plan's gate could then be neither approved nor
    rejected ("it passed"): only `cancel` ended the run."""
    said: dict[str, Any] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.gates["change-1"].status == "open")
        answer: Any = command(
            runner, "amend", {"text": PLAN.replace('id: b, run: "true"', 'id: b, run: "true "')}
        )
        said["amend"] = json.loads(answer["event"]["data"]).get("change")
        if said["amend"] == "change-1":  # (the collision: nothing could end the run but this)
            command(runner, "cancel", {"reason": "the ids collided"})
            return
        command(runner, "approve", {"gate": said["amend"]})
        await until(lambda: runner.state.changes[said["amend"]].status == "passed")
        # a gate named as the run's change gate: refused, whatever phase it follows
        named = PLAN.replace('id: b, run: "true"', 'id: b, run: "true "')
        named += "  - {id: change-2, after: two}\n"
        refused: Any = command(runner, "amend", {"text": named})
        said["named"] = json.loads(refused["event"]["data"])
        command(runner, "approve", {"gate": "change-1"})

    state, _ = await operated(tmp_path, PLAN, operator)
    assert said["amend"] == "change-2"
    assert state.status.value == "succeeded"
    assert state.gates["change-1"].status.value == "passed"
    assert [a["change"] for a in state.amendments] == ["change-2"]
    assert not said["named"]["ok"]
    assert "gate id 'change-2' is this run's change gate change-2" in said["named"]["message"]
