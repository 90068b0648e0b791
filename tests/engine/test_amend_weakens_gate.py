"""An amendment that weakens a manual gate the run has not passed needs that gate's own approvers,
under the gate's current rules (its quorum; the run's starter and the change's proposer do not
count when it forbids self-approval), besides the plan's roles.changes.

Regression: the run's starter amended a gate (`approvers: [group] -> [starter]`, quorum 2 -> 1,
forbid_self_approval off), approved the change gate alone, then approved the gate alone: nobody
else took part."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.model.identity import current_identity
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, until

ME = current_identity().user
GATE = f"  - {{id: g, after: one, approvers: [{ME}, pgw-bob, pgw-carol], quorum: 2, "
PLAN = f"""\
name: guarded
agents: {{w: {{}}}}
roles: {{operators: [pgw-op]}}
phases:
  - {{id: one, tasks: [{{id: a, run: "while [ ! -e go ]; do sleep 0.02; done", agent: w}}]}}
  - {{id: two, tasks: [{{id: b, run: "true", agent: w}}]}}
gates:
{GATE}forbid_self_approval: true}}
"""
WEAKENED = PLAN.replace(
    f"[{ME}, pgw-bob, pgw-carol], quorum: 2, forbid_self_approval: true", f"[{ME}]"
)


PEOPLE = ("pgw-bob", "pgw-carol", "pgw-op")  # (a run refuses a gate whose approvers are not here)
# (one worker runs this module's tests: the users its fixture makes are removed after them, and
# another worker's test of it found them gone: `there is no user 'pgw-bob' on this machine`)
pytestmark = pytest.mark.xdist_group("pgw-users")


@pytest.fixture(scope="module")
def people() -> Iterator[None]:
    """Throwaway OS users for the gate's approvers and the run's operator."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("adding the gate's approvers as OS users needs root and useradd")
    made = []
    for user in PEOPLE:
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", user], check=True)
            made.append(user)
    yield
    for user in made:
        subprocess.run(["userdel", user], check=False)


def _amend(runner: Runner, text: str, user: str = "") -> tuple[bool, str]:
    """(accepted, the change gate's id or the refusal) of an `amend` with the plan `text`."""
    answer: dict[str, Any] = command(runner, "amend", {"text": textwrap.dedent(text)}, user)
    data = json.loads(answer["event"]["data"])
    if answer["event"]["type"] == "change.proposed":
        return True, data["change"]
    return bool(data["ok"]), str(data["message"])


def _decide(runner: Runner, gate: str, user: str = "", kind: str = "approve") -> str:
    """ "" when the engine counted the vote, else its refusal."""
    args = {"gate": gate, "reason": "no" if kind == "reject" else ""}
    answer: dict[str, Any] = command(runner, kind, args, user)
    data = json.loads(answer["event"]["data"])
    return "" if answer["event"]["type"] == "gate.voted" else str(data["why"])


@pytest.mark.usefixtures("people")
async def test_the_starter_cannot_weaken_a_gate_alone(tmp_path: Path) -> None:
    said: dict[str, Any] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["a"].status == "running")
        said["amend"] = _amend(runner, WEAKENED)
        said["diff"] = runner.state.changes["change-1"].diff
        said["approvers"] = list(runner.state.changes["change-1"].approvers)
        said["me"] = _decide(runner, "change-1")  # (roles.changes: the starter)
        said["me again"] = _decide(runner, "change-1")
        said["stranger"] = _decide(runner, "change-1", "pgw-dave")
        said["after me"] = runner.state.changes["change-1"].status.value
        said["bob"] = _decide(runner, "change-1", "pgw-bob")
        said["after bob"] = runner.state.changes["change-1"].status.value
        said["carol"] = _decide(runner, "change-1", "pgw-carol")
        (tmp_path / "go").write_text("")
        await until(lambda: runner.state.gates["g"].status == "open")
        said["g"] = _decide(runner, "g")  # (the gate's new rules, which its approvers agreed)

    state, _ = await operated(tmp_path, PLAN, operator)
    assert said["amend"] == (True, "change-1")
    assert said["me"] == ""
    assert said["after me"] == "open"  # (the starter's vote alone did not amend the plan)
    assert said["approvers"] == [ME, "pgw-bob", "pgw-carol"]
    assert said["diff"][0]["oversight"] == {
        "gate": "g",
        "weakens": [
            "changes its approvers",
            "lowers its quorum",
            "turns forbid_self_approval off",
        ],
        "approvers": [ME, "pgw-bob", "pgw-carol"],
        "quorum": 2,
        "not": [ME],
    }
    assert said["me again"].startswith(f"{ME} has approved change-1 already; it waits for 2 ")
    assert "pgw-dave may not decide change-1" in said["stranger"]
    assert said["bob"] == ""
    assert said["after bob"] == "open"
    assert said["carol"] == ""
    assert state.changes["change-1"].status.value == "passed"
    assert state.changes["change-1"].approved_by == [ME, "pgw-bob", "pgw-carol"]
    assert said["g"] == ""
    assert state.status.value == "succeeded"


@pytest.mark.usefixtures("people")
async def test_a_weakening_rejected_by_a_gate_approver_leaves_the_gate_as_it_was(
    tmp_path: Path,
) -> None:
    said: dict[str, Any] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["a"].status == "running")
        removed = PLAN.split("gates:")[0]  # (the gate removed)
        said["amend"] = _amend(runner, removed)
        said["me"] = _decide(runner, "change-1")
        said["bob"] = _decide(runner, "change-1", "pgw-bob", "reject")
        (tmp_path / "go").write_text("")
        await until(lambda: runner.state.gates["g"].status == "open")
        said["g by me"] = _decide(runner, "g")  # (still forbidden: the gate is as it was)
        command(runner, "approve", {"gate": "g"}, "pgw-bob")
        command(runner, "approve", {"gate": "g"}, "pgw-carol")

    state, _ = await operated(tmp_path, PLAN, operator)
    assert said["amend"] == (True, "change-1")
    assert said["me"] == "" and said["bob"] == ""
    assert state.changes["change-1"].status.value == "rejected"
    assert state.amendments == []
    assert "forbids self-approval" in said["g by me"]
    assert state.gates["g"].approved_by == ["pgw-bob", "pgw-carol"]
    assert state.status.value == "succeeded"


@pytest.mark.usefixtures("people")
async def test_an_operator_may_not_count_towards_a_gate_it_weakens(tmp_path: Path) -> None:
    """The proposer's vote does not count when the gate forbids self-approval: with the starter
    and the proposer taken off, a gate that lists users alone may be out of reach: refused."""
    said: dict[str, Any] = {}
    plan = PLAN.replace("pgw-bob, pgw-carol]", "pgw-op, pgw-bob]")

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["a"].status == "running")
        said["amend"] = _amend(runner, plan.replace("quorum: 2", "quorum: 1"), "pgw-op")
        (tmp_path / "go").write_text("")
        await until(lambda: runner.state.gates["g"].status == "open")
        for user in ("pgw-op", "pgw-bob"):
            command(runner, "approve", {"gate": "g"}, user)

    state, _ = await operated(tmp_path, plan, operator)
    assert said["amend"] == (
        False,
        "refused: this change weakens gate 'g' (lowers its quorum), so 2 of its approvers must "
        f"approve it, but only 1 may (pgw-bob): the gate forbids self-approval and {ME} starts "
        "the run, pgw-op proposes the change; nothing was changed",
    )
    assert state.changes == {}
    assert state.status.value == "succeeded"


@pytest.mark.usefixtures("people")
async def test_amendments_that_do_not_weaken_a_gate_are_decided_as_before(tmp_path: Path) -> None:
    """Work changes, and a gate made stricter, are the plan's roles.changes' (the starter's)
    alone: one approval amends the plan."""
    said: dict[str, Any] = {}
    stricter = PLAN.replace(
        "forbid_self_approval: true}", 'forbid_self_approval: true, criteria: [{run: "true"}]}'
    )
    more_work = stricter.replace('{id: b, run: "true"', '{id: b, run: "true "')

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["a"].status == "running")
        said["stricter"] = _amend(runner, stricter)
        said["stricter by me"] = _decide(runner, "change-1")
        said["more work"] = _amend(runner, more_work)
        said["more work by me"] = _decide(runner, "change-2")
        (tmp_path / "go").write_text("")
        await until(lambda: runner.state.gates["g"].status == "open")
        for user in ("pgw-bob", "pgw-carol"):
            command(runner, "approve", {"gate": "g"}, user)

    state, _ = await operated(tmp_path, PLAN, operator)
    assert said["stricter"] == (True, "change-1") and said["more work"] == (True, "change-2")
    assert said["stricter by me"] == "" and said["more work by me"] == ""
    assert [a["change"] for a in state.amendments] == ["change-1", "change-2"]
    assert state.changes["change-1"].approvers == ()  # (the run's starter, as before)
    assert state.status.value == "succeeded"


def _needs(old: str, new: str, proposer: str = ME) -> list[tuple[str, tuple[str, ...]]]:
    from phasegate.engine.plan.amend import diff
    from phasegate.engine.plan.load import plan_from_text
    from phasegate.engine.run.amend_oversight import needs

    before, after = (plan_from_text(t, "p.yaml", "/tmp", []) for t in (old, new))
    return [(n.gate, n.how) for n in needs(before, diff(before, after), ME, proposer)][1:]


def test_what_weakens_a_gate_and_what_does_not() -> None:
    gate = f"{GATE}forbid_self_approval: true}}"
    weakened = {
        "approval: auto": ("approval manual -> auto",),
        "approval: manual": (),
        "timeout: 60, on_timeout: approve": ("lets a timeout approve it sooner",),
    }
    for extra, how in weakened.items():
        found = _needs(PLAN, PLAN.replace(gate, gate[:-1] + f", {extra}}}"))
        assert found == ([("g", how)] if how else []), extra
    moved = PLAN.replace("after: one, approvers", "after: two, approvers")
    assert _needs(PLAN, moved) == [("g", ("moves it after phase two",))]
    with_check = PLAN.replace(gate, gate[:-1] + ', criteria: [{run: "true"}]}')
    assert _needs(with_check, PLAN) == [("g", ("removes or changes criteria",))]
    # stricter, or not a gate people approve: the plan's roles.changes alone
    assert _needs(PLAN, PLAN.replace("quorum: 2", "quorum: 3")) == []
    assert _needs(PLAN, with_check) == []
    auto = PLAN.replace("forbid_self_approval: true}", "approval: auto}")
    assert _needs(auto, auto.split("gates:")[0]) == []


def test_changing_the_task_a_gates_criteria_read_weakens_that_gate() -> None:
    """Found by a review: the starter changed the `run` of the task whose test results the
    gate's criteria read, approved that alone, and so made the gate's evidence."""
    from phasegate.engine.plan.amend import change_lines, diff
    from phasegate.engine.plan.load import plan_from_text
    from phasegate.engine.run.amend_oversight import annotated, needs

    gate = f"{GATE}forbid_self_approval: true}}"
    read = PLAN.replace(gate, gate[:-1] + ", criteria: [{tests: {of: a}}]}").replace(
        "agent: w}]}\n  - {id: two", "agent: w, results: {junit: r.xml}}]}\n  - {id: two"
    )
    faked = read.replace('run: "while [ ! -e go ]; do sleep 0.02; done"', 'run: "echo 1 passed"')
    assert _needs(read, faked) == [("g", ("changed task a (its criteria read its tests)",))]
    assert _needs(read, read.replace('run: "true"', 'run: "false"')) == []  # (task b: not read)
    before, after = (plan_from_text(t, "p.yaml", "/tmp", []) for t in (read, faked))
    changes = diff(before, after)
    shown = change_lines(annotated(changes, needs(before, changes, ME, ME)))
    assert any(line.startswith("  ! this weakens gate g: 2 of its approvers") for line in shown)
