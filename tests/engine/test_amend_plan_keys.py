"""Amending the plan's own keys (`vars`, `workdir`, `budget`, `notify`, ...) in a live run: each
difference is either listed and applied by the engine, or refused with the reason; never
stored and ignored (the running engine used the old value, a take-over of the same approved
plan the new one)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest

from phasegate.engine.plan.amend import diff, refusals
from phasegate.engine.plan.load import plan_from_text
from phasegate.engine.plan.model import Plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, until

PLAN = """\
name: keys
vars: {msg: hello}
agents: {w: {}}
phases:
  - id: one
    tasks: [{id: a, run: "while [ ! -e go ]; do sleep 0.02; done", agent: w}]
  - id: two
    tasks:
      - {id: d, run: "echo msg={msg}", agent: w}
"""
HEAD = "agents: {w: {}}\n"

# a new value for each of the plan's own keys (its parts, compared one by one, aside)
NEW = {
    "description": "description: the new words",
    "vars": "vars: {msg: bye}",
    "workdir": "workdir: sub",
    "checks": "checks: {binaries: [sh]}",
    "output_cap": "output_cap: 1MB",
    "kill_grace": "kill_grace: 1",
    "research": "research: [{id: q, query: why}]",
    "notify": "notify: cat >> told",
    "share": "share: nosuchgroup",
    "budget": "budget: {seconds: 100}",
    "feedback": "feedback: {ask: [root]}",
    "raw_vars": "raw_vars: [msg]",
    "absolute_outputs": "absolute_outputs: true",
    "keep_worktrees": "keep_worktrees: true",
    "secrets": "secrets: {TOKEN: {env: PATH}}",
}
# read by the engine from the plan it follows: applied at once (and alike by a take-over)
APPLIED = {"description", "output_cap", "kill_grace", "notify", "absolute_outputs"}
APPLIED |= {"keep_worktrees"}
# taken as the run started: refused, with why
FIXED = {
    "vars": "its commands are made with the values it started with",
    "raw_vars": "its commands are made with the values it started with",
    "workdir": "its tasks run in the directory it started in",
    "secrets": "its secrets were read as it started",
    "budget": "what it spends counts against the budget it started with (a budget with "
    "`action: ask` grows when the run is resumed past it)",
    "share": "its socket and database were shared as it started",
    "checks": "the plan's checks ran as it started",
    "research": "its research queries ran as it started",
    "feedback": "its feedback questions were set as it started",
}
PARTS = {"name", "agents", "resources", "phases", "gates", "risks", "roles", "monitors"}


def _plan(text: str) -> Plan:
    return plan_from_text(text, "p.yaml", "/tmp", [])


def _with(key: str, plan: str = PLAN) -> str:
    line = NEW[key] + "\n"
    if key == "vars":
        return plan.replace("vars: {msg: hello}\n", line)
    return plan.replace(HEAD, line + HEAD)


def test_every_key_of_the_plan_is_compared_and_judged() -> None:
    """A key added to the plan model later is compared too: here, or among its parts."""
    keys = {f.name for f in msgspec.structs.fields(Plan)}
    assert keys - PARTS == set(NEW)
    assert APPLIED | set(FIXED) == set(NEW)


@pytest.mark.parametrize("key", sorted(NEW))
def test_a_plan_key_changed_is_listed_and_refused_or_applied(key: str) -> None:
    from phasegate.engine.model.state import RunState

    old = _plan(PLAN)
    new = _plan(_with(key))
    changes = diff(old, new)
    assert [(c["what"], c["id"], c["change"]) for c in changes] == [("plan", key, "changed")]
    why = refusals(old, new, changes, RunState())
    if key in APPLIED:
        assert why == []
    else:
        assert why == [f"`{key}` cannot change in a live run: {FIXED[key]}; start a new run for it"]


def _amend(runner: Runner, text: str) -> tuple[bool, str]:
    args = {"text": textwrap.dedent(text), "restart": ""}
    answer: dict[str, Any] = command(runner, "amend", args)
    data = json.loads(answer["event"]["data"])
    if answer["event"]["type"] == "change.proposed":
        return True, data["change"]
    return bool(data["ok"]), str(data["message"])


async def test_vars_are_refused_and_notify_is_applied_by_the_running_engine(
    tmp_path: Path,
) -> None:
    """Regression: `vars: {msg: bye}` was "nothing to change"; with a task added it was
    approved and stored, and the running engine still ran `msg=hello`. A `notify:` added was
    stored and never run."""
    said: dict[str, tuple[bool, str]] = {}
    more = PLAN + '      - {id: z, run: "echo z={msg}", agent: w}\n'

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["a"].status == "running")
        said["vars"] = _amend(runner, _with("vars"))
        said["vars and a task"] = _amend(runner, _with("vars", more))
        said["budget"] = _amend(runner, _with("budget"))
        said["notify"] = _amend(runner, _with("notify", more))
        command(runner, "approve", {"gate": said["notify"][1]})
        (tmp_path / "go").write_text("")

    state, _ = await operated(tmp_path, PLAN, operator)
    vars_refused = (
        "refused: `vars` cannot change in a live run: its commands are made with the values "
        "it started with; start a new run for it"
    )
    assert said["vars"] == (False, vars_refused)
    assert said["vars and a task"] == (False, vars_refused)
    assert said["budget"][0] is False and "`budget` cannot change" in said["budget"][1]
    assert said["notify"] == (True, "change-1")
    assert state.status.value == "succeeded"
    assert state.tasks["z"].status.value == "succeeded"
    told = [json.loads(line)["kind"] for line in (tmp_path / "told").read_text().splitlines()]
    assert "run.finished" in told
