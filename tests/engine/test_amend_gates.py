"""Amending the gates of a live run: a gate the run has reached keeps its settings until it is
decided; a gate not reached yet takes the new ones."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, until

PLAN = """\
name: gated
agents: {w: {}}
phases:
  - {id: one, tasks: [{id: a, run: "true", agent: w}]}
  - {id: two, tasks: [{id: b, run: "true", agent: w}]}
gates:
  - {id: first, after: one, criteria: [{run: "true"}]}
  - {id: second, after: one}
  - {id: last, after: two}
"""
FIRST = '  - {id: first, after: one, criteria: [{run: "true"}]}\n'


def _amend(runner: Runner, text: str, restart: str = "") -> tuple[bool, str]:
    """(accepted, the engine's answer) of an `amend` with the plan `text`."""
    args = {"text": textwrap.dedent(text), "restart": restart}
    answer: dict[str, Any] = command(runner, "amend", args)
    data = json.loads(answer["event"]["data"])
    if answer["event"]["type"] == "change.proposed":
        return True, data["change"]
    return bool(data["ok"]), str(data["message"])


async def test_an_open_gate_cannot_be_amended_until_it_is_decided(tmp_path: Path) -> None:
    """Regression: an open manual gate amended to `approval: auto` was accepted and recorded,
    and the gate stayed open, waiting for a manual decision (its new settings were ignored)."""
    said: dict[str, tuple[bool, str]] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.gates["first"].status == "open")
        for name, changed in {
            "approval": FIRST.replace("]}", "], approval: auto}"),
            "approvers": FIRST.replace("]}", "], approvers: [daemon]}"),
            "quorum": FIRST.replace("]}", "], quorum: 2}"),
            "timeout": FIRST.replace("]}", "], timeout: 1, on_timeout: approve}"),
            "criteria": FIRST.replace('"true"', '"false"'),
        }.items():
            said[name] = _amend(runner, PLAN.replace(FIRST, changed))
        said["removed"] = _amend(runner, PLAN.replace(FIRST, ""))
        # the next gate of the same phase is under way too: it comes once `first` is decided
        said["second"] = _amend(
            runner, PLAN.replace("second, after: one", "second, after: one, quorum: 2")
        )
        # (the command line says so before it sends: this is for any other sender)
        auto_last = PLAN.replace("last, after: two", "last, after: two, approval: auto")
        said["restart"] = _amend(runner, auto_last, restart="nosuch")
        # a gate not reached moved after a phase that has ended would never open
        said["moved"] = _amend(runner, PLAN.replace("last, after: two", "last, after: one"))
        # a gate the run has not reached takes its new settings
        said["last"] = _amend(runner, auto_last)
        if said["last"] != (True, "change-1"):  # (an earlier change was taken: end the run)
            command(runner, "cancel", {"reason": "a change was taken where it should not be"})
            return
        command(runner, "approve", {"gate": "change-1"})
        command(runner, "approve", {"gate": "first"})
        await until(lambda: runner.state.gates["second"].status == "open")
        command(runner, "approve", {"gate": "second"})

    state, _ = await operated(tmp_path, PLAN, operator)
    open_refusal = "refused: gate 'first' is open: decide it (approve/reject) before changing it"
    for name in ("approval", "approvers", "quorum", "timeout", "criteria"):
        assert said[name] == (False, open_refusal), name
    assert said["removed"] == (
        False,
        "refused: gate 'first' is open: decide it (approve/reject) before removing it",
    )
    assert said["second"] == (
        False,
        "refused: gate 'second' is under way (phase 'one' has ended): it cannot be changed",
    )
    assert said["restart"] == (
        False,
        "refused: --restart nosuch: this run has no task 'nosuch'; its tasks: a, b",
    )
    assert said["moved"] == (
        False,
        "refused: gate 'last' would follow phase 'one', which has finished: it would never open",
    )
    assert said["last"] == (True, "change-1")
    assert state.status.value == "succeeded"
    assert [a["change"] for a in state.amendments] == ["change-1"]
    assert state.gates["last"].status.value == "passed"  # (auto, as amended: nobody approved it)
    assert state.gates["first"].approved_by and state.gates["second"].approved_by
