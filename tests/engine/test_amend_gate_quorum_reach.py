"""Regression: `phasegate run` refuses a plan whose gate needs the starter's approval to reach
its quorum while forbidding self-approval, but an amendment of a live run that added or changed
a gate that way was accepted, and the gate could then never pass."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phasegate.engine.model.identity import current_identity
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated

ME = current_identity().user

PLAN = """\
name: gated
agents: {w: {}}
phases:
  - {id: one, tasks: [{id: a, run: "while [ ! -e go ]; do sleep 0.02; done", agent: w}]}
  - {id: two, tasks: [{id: b, run: "true", agent: w}]}
gates:
  - {id: review, after: one, approval: auto}
"""


async def _until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _amend(runner: Runner, text: str) -> tuple[bool, str]:
    """(accepted, the engine's answer) of an `amend` with the plan `text`."""
    answer: dict[str, Any] = command(runner, "amend", {"text": textwrap.dedent(text)})
    data = json.loads(answer["event"]["data"])
    if answer["event"]["type"] == "change.proposed":
        return True, data["change"]
    return bool(data["ok"]), str(data["message"])


async def test_an_amended_gate_the_starter_puts_out_of_reach_is_refused(tmp_path: Path) -> None:
    said: dict[str, tuple[bool, str]] = {}
    before: dict[str, Any] = {}
    out_of_reach = "forbid_self_approval: true, approvers: [{}], quorum: 2}}"
    changed = PLAN.replace("approval: auto}", out_of_reach.format(f"{ME}, daemon"))
    added = PLAN + "  - {id: sign-off, after: one, " + out_of_reach.format(f"{ME}, bin") + "\n"

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await _until("a to run", lambda: runner.state.tasks["a"].status == "running")
        before["gates"] = dict(runner.state.gates)
        said["changed"] = _amend(runner, changed)
        said["added"] = _amend(runner, added)
        before["changes"] = dict(runner.state.changes)
        # (one that others can fill is taken: the check is of the starter's vote alone)
        said["fine"] = _amend(runner, added.replace("bin]", "bin, sys]"))
        command(runner, "reject", {"gate": "change-1", "reason": "only a check"})
        (tmp_path / "go").write_text("")

    state, _ = await operated(tmp_path, PLAN, operator)
    why = (
        "{}: {} starts the run and the gate forbids self-approval; "
        "add an approver or lower the quorum; nothing was changed"
    )
    assert said["changed"] == (
        False,
        "refused: gate 'review' needs 2 approvals but only 1 of its approvers may give them "
        + why.format("(daemon)", ME),
    )
    assert said["added"] == (
        False,
        "refused: gate 'sign-off' needs 2 approvals but only 1 of its approvers may give them "
        + why.format("(bin)", ME),
    )
    assert before["changes"] == {}  # (nothing proposed: no change gate opened)
    assert said["fine"] == (True, "change-1")
    assert state.amendments == []
    assert state.status.value == "succeeded"
    assert set(state.gates) == set(before["gates"]) == {"review"}
