"""Regression: a gate nobody could ever decide was accepted and its run waited for ever:
`approvers: ["group:nosuchgrp"]`; `["group:alice"]` with forbid_self_approval (its only member
starts the run); `[eve, bob]`, quorum 2, in a run shared with a group eve is not in (she cannot
reach the run's socket); `[nosuchuser, bob]`, quorum 2. `run` and `amend` refuse such a gate
(exit 2 for `run`), naming the gate, who may decide it and what is missing (a machine the test
describes: test_gate_deciders.py)."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, run_plan, write_plan

ME = current_identity().user
PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
NO_GROUP, NO_USER = "pg-no-such-group-zz", "pg-no-such-user-zz"


def gated(gate: str) -> str:
    return textwrap.dedent(
        f"""
        name: gated
        agents: {{sh: {{}}}}
        phases:
          - id: build
            tasks: [{{id: a, run: "true"}}]
        gates:
          - {gate}
        """
    )


def _refusal(tmp_path: Path, gate: str, share: int | None = None) -> UsageError:
    plan = load_plan(str(write_plan(tmp_path, gated(gate))))  # (a valid plan: loads)
    with pytest.raises(UsageError) as caught:
        Runner(plan, MemoryStore(), "run1", run_dir=str(tmp_path), share=share)
    assert caught.value.exit_code == 2
    return caught.value


def test_a_run_refuses_a_gate_of_an_unknown_group(tmp_path: Path) -> None:
    why = str(_refusal(tmp_path, f'{{id: review, after: build, approvers: ["group:{NO_GROUP}"]}}'))
    assert why.startswith(
        "gate 'review' needs 1 approval but only 0 of its approvers may give them (none): "
        f"there is no group '{NO_GROUP}' on this machine; "
    )
    assert why.endswith("nothing was run")


def test_a_run_refuses_a_quorum_an_unknown_user_was_counted_in(tmp_path: Path) -> None:
    gate = f"{{id: review, after: build, approvers: [{NO_USER}, {ME}], quorum: 2}}"
    why = str(_refusal(tmp_path, gate))
    assert why.startswith(
        f"gate 'review' needs 2 approvals but only 1 of its approvers may give them ({ME}): "
        f"there is no user '{NO_USER}' on this machine"
    )


def _outsider(gid: int) -> str:
    """A user of this machine who is neither in group `gid` nor root nor this user."""
    members = set(grp.getgrgid(gid).gr_mem)
    for entry in pwd.getpwall():
        outside = entry.pw_gid != gid and entry.pw_name not in members
        if outside and entry.pw_uid not in (0, os.geteuid()):
            return entry.pw_name
    pytest.skip("no user outside this user's group on this machine")


def test_a_shared_run_refuses_a_quorum_that_needs_a_user_outside_its_group(
    tmp_path: Path,
) -> None:
    gid = os.getegid()
    other = _outsider(gid)
    gate = f"{{id: review, after: build, approvers: [{other}, {ME}], quorum: 2}}"
    why = str(_refusal(tmp_path, gate, share=gid))
    assert why.startswith(
        f"gate 'review' needs 2 approvals but only 1 of its approvers may give them ({ME}): "
        f"{other} cannot reach the run: not in group {grp.getgrgid(gid).gr_name}, which it is "
        "shared with"
    )
    # unshared, the same gate starts (who reaches a private run is not judged here)
    plan = load_plan(str(write_plan(tmp_path, gated(gate))))
    Runner(plan, MemoryStore(), "run2", run_dir=str(tmp_path))


async def test_a_gate_of_users_here_still_starts(tmp_path: Path) -> None:
    text = gated(f"{{id: review, after: build, approval: auto, approvers: [{ME}]}}")
    state, _ = await run_plan(tmp_path, text)
    assert state.status.value == "succeeded"


PLAN = """\
name: gated
agents: {w: {}}
phases:
  - {id: one, tasks: [{id: a, run: "while [ ! -e go ]; do sleep 0.02; done", agent: w}]}
  - {id: two, tasks: [{id: b, run: "true", agent: w}]}
gates:
  - {id: review, after: one, approval: auto}
"""


async def test_amend_refuses_a_gate_nobody_here_can_decide(tmp_path: Path) -> None:
    said: dict[str, tuple[bool, str]] = {}
    added = PLAN + f'  - {{id: sign-off, after: one, approvers: ["group:{NO_GROUP}"]}}\n'

    async def operator(runner: Runner, store: MemoryStore) -> None:
        deadline = time.monotonic() + 30
        while runner.state.tasks["a"].status.value != "running":
            assert time.monotonic() < deadline, "timed out waiting for a to run"
            await asyncio.sleep(0.01)
        answer: dict[str, Any] = command(runner, "amend", {"text": added})
        data = json.loads(answer["event"]["data"])
        said["added"] = (bool(data.get("ok")), str(data.get("message")))
        (tmp_path / "go").write_text("")

    state, _ = await operated(tmp_path, PLAN, operator)
    assert said["added"] == (
        False,
        "refused: gate 'sign-off' needs 1 approval but only 0 of its approvers may give them "
        f"(none): there is no group '{NO_GROUP}' on this machine; add an approver or lower the "
        "quorum; nothing was changed",
    )
    assert state.amendments == [] and set(state.gates) == {"review"}


def test_run_exits_2_naming_the_gate(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path, gated(f'{{id: review, after: build, approvers: ["group:{NO_GROUP}"]}}')
    )
    env = {**os.environ, "PHASEGATE_DB": str(tmp_path / "data" / "pg.db")}
    done = subprocess.run(
        [PHASEGATE, "run", str(path), "--headless"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "gate 'review' needs 1 approval" in done.stderr
    assert f"there is no group '{NO_GROUP}' on this machine" in done.stderr
    assert "nothing was run" in done.stderr
