"""`phasegate approve RUN GATE` naming a gate the run does not have is still bad input (exit 2,
the run's gates named), and the attempt is an audit row: the engine records its refusal (who,
what was asked, why not), as it records every other refused decision. (This test process hosts
the run's engine; the decisions go through its socket, as from another terminal.)"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from phasegate.engine.client import run_dir
from phasegate.engine.model.commands import Approve, Reject
from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.statuses import GateStatus, RunStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.audit import audit, verify
from phasegate.tui.cli.gates import decide
from tests.engine.helpers import ScriptedExecutor, until, write_plan

GATED = """
name: gated
agents: {a: {}}
phases:
  - id: p
    tasks: [{id: t, run: "true"}]
  - id: q
    tasks: [{id: u, run: "true"}]
gates:
  - {id: review, after: p}
"""


def _waits(runner: Runner) -> bool:
    gate = runner.state.gates.get("review")
    return gate is not None and gate.status is GateStatus.OPEN


async def test_a_decision_on_a_gate_that_does_not_exist_is_refused_and_audited(
    tmp_path: Path, db_path: Path
) -> None:
    # regression: the CLI stopped it before sending (exit 2): the attempt left no audit row
    db = str(db_path)
    os.makedirs(db_path.parent, mode=0o700)
    store = await SQLiteStore.open(db)
    plan = load_plan(str(write_plan(tmp_path, GATED)))
    fake = ScriptedExecutor()
    runner = Runner(plan, store, "gated1", run_dir=run_dir(db, "gated1"), executor=fake)  # type: ignore[arg-type]  # type: ignore[arg-type]
    running = asyncio.ensure_future(runner.run())
    try:
        await asyncio.wait_for(until(lambda: _waits(runner)), 30)
        for order in (Approve("nosuch"), Reject("nosuch", "wrong one")):
            with pytest.raises(UsageError, match="has no gate 'nosuch'; its gates: review"):
                await decide(db, "gated1", order)
        said = await decide(db, "gated1", Approve("review", "fine"))
        assert said.endswith("the gate passed")
        state = await asyncio.wait_for(running, 30)
    finally:
        running.cancel()
        await store.close()
    assert state.status is RunStatus.SUCCEEDED
    rows = json.loads(await audit(db, "gated1", True))["audit"]
    me = current_identity()
    refused = [r for r in rows if r["gate"] == "nosuch"]
    assert [(r["decision"], r["accepted"], r["user"], r["uid"], r["host"]) for r in refused] == [
        ("approve", False, me.user, me.uid, me.host),
        ("reject", False, me.user, me.uid, me.host),
    ]
    assert all("has no gate 'nosuch'; its gates: review" in r["why"] for r in refused)
    assert refused[1]["reason"] == "wrong one"
    text = await audit(db, "gated1", False)
    assert text.count("nosuch") == 4 and "approve (refused)" in text  # (the gate, the why)
    assert (await verify(db, "gated1", False))[0]
