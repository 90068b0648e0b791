"""Regressions: a gate whose quorum the starter puts out of reach ran and waited for ever; a
`--var` naming a built-in was accepted and silently ignored, and built-ins were listed among a
plan's variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.model.errors import PlanError, UsageError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.plan import load_plan, validate_file
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import run_plan, write_plan

ME = current_identity().user
PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"


def gated(gate: str) -> str:
    return f"""
        name: gated
        agents: {{sh: {{}}}}
        phases:
          - id: build
            tasks: [{{id: a, run: "true"}}]
        gates:
          - {gate}
        """


def test_a_gate_the_starter_may_not_approve_and_others_cannot_fill_is_refused(
    tmp_path: Path,
) -> None:
    text = gated(
        f"{{id: review, after: build, approvers: [{ME}, daemon], quorum: 2, "
        "forbid_self_approval: true}"
    )
    plan = load_plan(str(write_plan(tmp_path, text)))  # (valid: another user may start it)
    store = MemoryStore()
    with pytest.raises(UsageError) as caught:
        Runner(plan, store, "run1", run_dir=str(tmp_path))
    message = str(caught.value)
    assert "gate 'review' needs 2 approvals but only 1 of its approvers" in message
    assert f"{ME} starts the run and the gate forbids self-approval" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "approvers",
    [
        f"[{ME}, daemon, bin], quorum: 2, forbid_self_approval: true",  # two others
        f'[{ME}, "group:zz-qa"], quorum: 2, forbid_self_approval: true',  # a group: many
        f"[{ME}, daemon], quorum: 2",  # the starter may approve
    ],
)
async def test_a_gate_whose_quorum_can_be_reached_starts(
    tmp_path: Path, approvers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phasegate.engine.plan import deciders

    real_group, real_members = deciders.Accounts.group, deciders.Accounts.members

    def group(self: deciders.Accounts, name: str) -> int | None:  # (zz-qa: bin and sys)
        return 4242 if name == "zz-qa" else real_group(self, name)

    def members(self: deciders.Accounts, gid: int) -> set[str]:
        return {"bin", "sys"} if gid == 4242 else real_members(self, gid)

    monkeypatch.setattr(deciders.Accounts, "group", group)
    monkeypatch.setattr(deciders.Accounts, "members", members)
    text = gated(f"{{id: review, after: build, approval: auto, approvers: {approvers}}}")
    state, _ = await run_plan(tmp_path, text)
    assert state.status.value == "succeeded"


def _problems(tmp_path: Path, given: list[str]) -> list[str]:
    text = """
        name: v
        vars: {branch: main}
        agents: {sh: {}}
        phases:
          - id: build
            tasks: [{id: a, run: "echo {run_id} {task} {workdir} {current_date} {branch}"}]
        """
    with pytest.raises(PlanError) as caught:
        load_plan(str(write_plan(tmp_path, text)), given)
    return [p.message for p in caught.value.problems]


@pytest.mark.parametrize("name", ["run_id", "task", "workdir", "current_date"])
def test_a_var_naming_a_built_in_is_refused(tmp_path: Path, name: str) -> None:
    assert _problems(tmp_path, [name]) == [
        f"'{name}' is a built-in variable, set by phasegate for each run; --var cannot set it "
        "(built-ins: current_date, run_id, workdir, task)"
    ]


def test_the_variables_listed_for_an_unknown_var_leave_the_built_ins_out(tmp_path: Path) -> None:
    assert _problems(tmp_path, ["brnch"]) == [
        "the plan has no variable 'brnch'; did you mean 'branch'? (its variables: branch)"
    ]


def test_validate_and_run_refuse_a_built_in_var_with_exit_2(tmp_path: Path) -> None:
    path = write_plan(tmp_path, gated("{id: review, after: build, approval: auto}"))
    assert validate_file(str(path), ["branch"])  # (unknown: as before)
    env = {**os.environ, "PHASEGATE_DB": str(tmp_path / "data" / "pg.db")}
    done = subprocess.run(
        [PHASEGATE, "run", str(path), "--headless", "--var", "run_id=zzz"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'run_id' is a built-in variable" in done.stderr + done.stdout
    assert "nothing was run" in done.stderr + done.stdout
