"""Gates: criteria, the approval policy matrix, timeouts, rejection with rewind."""

from __future__ import annotations

import asyncio
import grp
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.plan.convert import parse
from phasegate.engine.report.knowledge import learn
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, run_plan, until, write_plan

ME = current_identity().user


def plan(gate: str, first: str = 'echo "fb=$PHASEGATE_FEEDBACK" > fb-$PHASEGATE_ATTEMPT') -> str:
    return f"""
    name: gated
    agents: {{a: {{}}}}
    phases:
      - id: build
        tasks: [{{id: make, run: '{first}'}}]
      - id: ship
        tasks: [{{id: deploy, run: "true"}}]
    gates:
      - {gate}
    """


Step = Callable[[Runner, MemoryStore], "asyncio.Future[None] | None"]


async def gated_run(
    tmp_path: Path, gate: str, decisions: list[tuple[str, str, str]], **kw: str
) -> tuple[Runner, MemoryStore]:
    """Run the plan; each time the gate opens, write the next decisions (user, kind, reason)."""
    store = MemoryStore()
    runners: list[Runner] = []
    todo = list(decisions)

    async def operator() -> None:
        seen_attempt = 0
        while todo:
            await asyncio.sleep(0.01)
            if not runners:
                continue
            g = runners[0].state.gates.get("review")
            if g is None or g.status != "open" or g.attempt == seen_attempt:
                if runners[0].state.finished_at is not None:
                    return
                continue
            seen_attempt = g.attempt
            # every decision queued for this opening (until a "--" marker)
            while todo:
                user, kind, reason = todo.pop(0)
                if user == "--":
                    break
                command(runners[0], kind, {"gate": "review", "reason": reason}, user, 1000)

    helper = asyncio.ensure_future(operator())
    await run_plan(tmp_path, plan(gate, **kw), store=store, on_runner=runners.append)
    helper.cancel()
    return runners[0], store


async def audit(store: MemoryStore) -> list[ev.Event]:
    return [
        e
        for _, e in await store.read_events("run1")
        if isinstance(e, ev.GateVoted | ev.GateRefused | ev.GateClosed)
    ]


async def test_auto_gate_passes_when_every_criterion_passes(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("ok")
    runner, _ = await gated_run(
        tmp_path,
        "{id: review, after: build, approval: auto, criteria: "
        "[{run: 'true'}, {file: report.txt}, {metric: {run: 'echo coverage 91.5', min: 80}}]}",
        [],
    )
    g = runner.state.gates["review"]
    assert g.status == "passed" and len(g.evidence_hash) == 64
    assert [c["passed"] for c in g.criteria] == [True, True, True]
    assert g.criteria[2]["value"] == 91.5
    assert runner.state.tasks["deploy"].status is TaskStatus.SUCCEEDED


async def test_the_phases_declared_outputs_are_part_of_the_evidence(tmp_path: Path) -> None:
    import hashlib

    state, _ = await run_plan(
        tmp_path,
        """
        name: artifacts
        agents: {a: {}}
        phases:
          - id: build
            tasks: [{id: make, run: "sh -c 'echo built > app.bin'", outputs: [app.bin]}]
        gates: [{id: review, after: build, approval: auto, criteria: [{run: "true"}]}]
        """,
    )
    assert state.status is RunStatus.SUCCEEDED
    evidence = state.gates["review"].criteria
    assert [e["kind"] for e in evidence] == ["run", "artifact"]
    assert evidence[1]["spec"] == "app.bin"
    assert evidence[1]["sha256"] == hashlib.sha256(b"built\n").hexdigest()


async def test_auto_gate_with_a_failed_criterion_fails_the_run(tmp_path: Path) -> None:
    runner, _ = await gated_run(
        tmp_path,
        "{id: review, after: build, approval: auto, criteria: "
        "[{file: missing.txt}, {metric: {run: 'echo 42', min: 80}}]}",
        [],
    )
    assert runner.state.status is RunStatus.FAILED
    assert runner.state.gates["review"].status == "failed"
    assert "missing" in runner.state.reason and "42" in runner.state.reason
    assert runner.state.tasks["deploy"].status is TaskStatus.BLOCKED


async def test_manual_gate_waits_and_an_approval_lets_the_next_phase_run(tmp_path: Path) -> None:
    runner, store = await gated_run(
        tmp_path,
        "{id: review, after: build, criteria: [{run: 'true'}]}",
        [("alice", "approve", "")],
    )
    assert runner.state.status is RunStatus.SUCCEEDED
    voted = [e for e in await audit(store) if isinstance(e, ev.GateVoted)]
    assert [(v.user, v.decision, v.uid, v.host) for v in voted] == [("alice", "approve", 1000, "h")]
    assert voted[0].evidence_hash == runner.state.gates["review"].evidence_hash
    # how long it waited is history: the next run's forecast and dry run expect that wait
    g = runner.state.gates["review"]
    assert g.opened_at is not None and g.closed_at is not None
    await learn(store, "run1", str(tmp_path))  # (the front end does it as the run ends)
    waited = (await store.durations("gated"))["gate:review"]
    assert waited == [pytest.approx(g.closed_at - g.opened_at)]


async def test_allow_list_refuses_others_and_names_who_may(tmp_path: Path) -> None:
    runner, store = await gated_run(
        tmp_path,
        "{id: review, after: build, approvers: [daemon, bin]}",
        [("mallory", "approve", ""), ("bin", "approve", "")],
    )
    rows = await audit(store)
    refused = [e for e in rows if isinstance(e, ev.GateRefused)]
    assert refused[0].user == "mallory"
    assert "approvers: daemon, bin" in refused[0].why
    assert runner.state.status is RunStatus.SUCCEEDED


async def test_group_approvers(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    runner, store = await gated_run(
        tmp_path,
        f"{{id: review, after: build, approvers: ['group:{group}']}}",
        [("no-such-user-xyz", "approve", ""), (ME, "approve", "")],
    )
    refused = [e for e in await audit(store) if isinstance(e, ev.GateRefused)]
    assert [e.user for e in refused] == ["no-such-user-xyz"]
    assert runner.state.status is RunStatus.SUCCEEDED


async def test_quorum_needs_distinct_users(tmp_path: Path) -> None:
    runner, store = await gated_run(
        tmp_path,
        "{id: review, after: build, quorum: 2}",
        [("alice", "approve", ""), ("alice", "approve", ""), ("bob", "approve", "")],
    )
    rows = await audit(store)
    refused = [e for e in rows if isinstance(e, ev.GateRefused)]
    assert len(refused) == 1 and "approved already; 1 more approver needed" in refused[0].why
    assert runner.state.gates["review"].approved_by == ["alice", "bob"]
    assert runner.state.status is RunStatus.SUCCEEDED


async def test_self_approval_can_be_forbidden(tmp_path: Path) -> None:
    runner, store = await gated_run(
        tmp_path,
        "{id: review, after: build, forbid_self_approval: true}",
        [(ME, "approve", ""), ("daemon", "approve", "")],
    )
    refused = [e for e in await audit(store) if isinstance(e, ev.GateRefused)]
    assert refused[0].user == ME and "forbids self-approval" in refused[0].why
    assert runner.state.status is RunStatus.SUCCEEDED


async def test_rejection_needs_a_reason_and_fails_the_run(tmp_path: Path) -> None:
    runner, store = await gated_run(
        tmp_path,
        "{id: review, after: build}",
        [("alice", "reject", ""), ("alice", "reject", "coverage too low")],
    )
    rows = await audit(store)
    assert isinstance(rows[0], ev.GateRefused) and "needs a reason" in rows[0].why
    assert runner.state.status is RunStatus.FAILED
    assert runner.state.gates["review"].status == "rejected"
    assert "coverage too low" in runner.state.reason
    assert runner.state.tasks["deploy"].status is TaskStatus.BLOCKED


async def test_reject_with_rewind_runs_the_phase_again_with_the_feedback(tmp_path: Path) -> None:
    runner, _ = await gated_run(
        tmp_path,
        "{id: review, after: build, on_reject: {rewind_to: build, max_attempts: 2}}",
        [("alice", "reject", "fix the docs"), ("--", "", ""), ("alice", "approve", "")],
    )
    assert runner.state.status is RunStatus.SUCCEEDED
    assert runner.state.tasks["make"].attempts == 2
    assert (tmp_path / "fb-2").read_text().strip() == "fb=rejected by alice: fix the docs"
    assert (tmp_path / "fb-1").read_text().strip() == "fb="


async def test_rewind_stops_after_max_attempts(tmp_path: Path) -> None:
    runner, _ = await gated_run(
        tmp_path,
        "{id: review, after: build, on_reject: {rewind_to: build, max_attempts: 2}}",
        [("alice", "reject", "no"), ("--", "", ""), ("alice", "reject", "still no")],
    )
    assert runner.state.status is RunStatus.FAILED
    assert "after 2 attempts" in runner.state.reason


@pytest.mark.parametrize(
    ("action", "status", "slowest"),
    [
        ("reject", RunStatus.FAILED, 0.2),
        ("approve", RunStatus.SUCCEEDED, 0.2),
        ("extend", RunStatus.FAILED, 0.4),
    ],
)
async def test_timeout_takes_the_gates_explicit_action(
    tmp_path: Path, action: str, status: RunStatus, slowest: float
) -> None:
    started = time.monotonic()
    runner, _ = await gated_run(
        tmp_path, f"{{id: review, after: build, timeout: 0.2, on_timeout: {action}}}", []
    )
    assert runner.state.status is status
    assert f"{action}" in runner.state.gates["review"].reason or action == "extend"
    assert time.monotonic() - started >= slowest


async def test_deciding_an_unknown_gate_or_one_not_open_is_refused(tmp_path: Path) -> None:
    store = MemoryStore()
    runners: list[Runner] = []

    async def operator() -> None:
        await until(lambda: bool(runners) and "make" in runners[0].state.tasks)
        command(runners[0], "approve", {"gate": "nope"}, "alice", 1000)
        command(runners[0], "approve", {"gate": "review"}, "alice", 1000)

    helper = asyncio.ensure_future(operator())
    text = plan("{id: review, after: build, approval: auto}", first="sleep 0.6")
    state, _ = await run_plan(tmp_path, text, store=store, on_runner=runners.append)
    await helper
    assert state.status is RunStatus.SUCCEEDED
    refused = [e for e in await audit(store) if isinstance(e, ev.GateRefused)]
    assert [e.why for e in refused] == [
        "this run has no gate 'nope'; its gates: review",
        "gate 'review' is not waiting for a decision: its phase has not finished yet",
    ]


async def test_no_risks_fails_while_a_risk_at_or_above_its_level_is_open(tmp_path: Path) -> None:
    from phasegate.engine.model.state import RiskState
    from phasegate.engine.plan.model import Criterion
    from phasegate.engine.run.gates import evaluate

    high = parse(Criterion, {"no_risks": "high"})
    low = RiskState("silent:a", "silent", "low", "task a", "quiet for 2m")
    critical = RiskState("overrun:b", "overrun", "critical", "task b", "3x its estimate")
    (passed,) = await evaluate([high], str(tmp_path), {}, {}, [low])
    assert passed["passed"] and "no open risk at high" in passed["detail"]
    (failed,) = await evaluate([high], str(tmp_path), {}, {}, [low, critical])
    assert not failed["passed"]
    assert failed["detail"] == "1 open at high or above: critical task b: 3x its estimate"


class _Host:
    """The loop as a gatekeeper sees it, over a given fold (a run taken over)."""

    def __init__(self, events: list[ev.Event]) -> None:
        from phasegate.engine.model.fold import project

        self.state = project(events)
        self.emitted: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        from phasegate.engine.model.fold import apply

        self.emitted.append(event)
        apply(self.state, event)

    def now(self) -> float:
        return 10.0


def _taken_over(*after: ev.Event) -> tuple[_Host, object]:
    from phasegate.engine.plan.model import Gate
    from phasegate.engine.run.gatekeeper import GateKeeper

    started = ev.RunStarted(
        1.0,
        "r",
        "p",
        "p.yaml",
        phases=[{"id": "build"}],
        tasks=[],
        agents=[],
        gates=[{"id": "g", "after": "build", "quorum": 2}],
        user="starter",
    )
    opened = ev.GateOpened(2.0, "g", 1, [], "hash1", "manual")
    host = _Host([started, opened, *after])
    gate = parse(Gate, {"id": "g", "after": "build", "approval": "manual", "quorum": 2})
    return host, (GateKeeper(host, [gate], ".", dict, {}), gate)


async def test_a_rejection_recorded_before_a_take_over_closes_the_resumed_gate() -> None:
    voted = ev.GateVoted(3.0, "g", "reject", "alice", 1000, reason="not yet")
    host, (keeper, gate) = _taken_over(voted)  # type: ignore[misc]
    # (without the recorded rejection the gate would wait for approvers: bounded here)
    outcome, reason = await asyncio.wait_for(keeper.run(gate), 10)
    assert (outcome, reason) == ("rejected", "rejected by alice: not yet")
    # the same attempt: no new evidence, no second opening
    assert not any(isinstance(e, ev.GateOpened) for e in host.emitted)


async def test_a_gate_that_passed_before_a_take_over_is_not_asked_again() -> None:
    passed = ev.GateClosed(3.0, "g", "passed", "approved by alice, bob")
    host, (keeper, gate) = _taken_over(passed)  # type: ignore[misc]
    assert await keeper.run(gate) == ("passed", "approved by alice, bob")
    assert host.emitted == []


async def test_a_cancel_before_the_run_is_recorded_waits_for_it(tmp_path: Path) -> None:
    # Ctrl-C while the engine takes its lease: the run is cancelled once it is recorded
    store = MemoryStore()
    text = plan("{id: review, after: build, approval: auto}")
    runner = Runner(
        load_plan(str(write_plan(tmp_path, text))), store, "run1", run_dir=str(tmp_path)
    )
    runner.cancel("interrupted by Ctrl-C")
    state = await runner.run()
    assert state.status is RunStatus.CANCELLED and state.reason == "interrupted by Ctrl-C"
    assert all(t.status is TaskStatus.CANCELLED for t in state.tasks.values())
    seqs = [seq for seq, _ in await store.read_events("run1")]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing numbered twice


async def test_one_decision_decides_a_gate_and_the_later_ones_are_refused(tmp_path: Path) -> None:
    # several decisions written at once on a quorum-1 gate: the first decides, the others are
    # refused (audited), never accepted after the gate was decided
    _, store = await gated_run(
        tmp_path,
        "{id: review, after: build}",
        [("alice", "reject", "not yet"), ("bob", "approve", ""), ("carol", "approve", "")],
    )
    rows = [e for e in await audit(store) if not isinstance(e, ev.GateClosed)]
    assert [(e.user, type(e).__name__) for e in rows] == [  # type: ignore[attr-defined]
        ("alice", "GateVoted"),
        ("bob", "GateRefused"),
        ("carol", "GateRefused"),
    ]
    for refused in rows[1:]:
        assert isinstance(refused, ev.GateRefused)
        assert "rejected by alice: not yet" in refused.why or "was rejected" in refused.why


def test_a_decision_on_a_gate_sent_back_by_a_rejection_says_so() -> None:
    """Regression: an approval that lost a race to a rejection (which sent the run back) was
    refused with "its phase has not finished yet", as if the gate had never opened."""
    from phasegate.engine.model.identity import Identity
    from phasegate.engine.model.state import GateState
    from phasegate.engine.model.statuses import GateStatus
    from phasegate.engine.plan.model import Gate
    from phasegate.engine.run.gates import judge

    gate = Gate(id="review", after="build")
    who = Identity("bob", 1001, "h")
    never = GateState("review", "build")
    back = GateState("review", "build", status=GateStatus.WAITING, attempt=1, reason="no tests")
    assert judge(gate, never, who, "approve", "", "ann").why == (
        "gate 'review' is not waiting for a decision: its phase has not finished yet"
    )
    assert judge(gate, back, who, "approve", "", "ann").why == (
        "gate 'review' is not waiting for a decision: a rejection sent the run back and its "
        "phase runs again; it opens again when that phase ends"
    )
