"""Regression: a manual gate whose wait ended because the run stopped (a cancel, SIGTERM, Ctrl-C)
was closed `rejected` with the stop's reason, as if a person had rejected it; its wait went into
the history, and the next runs' forecast and dry run expected the median of those waits."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import RunStatus
from phasegate.engine.report.facts import NOT_DECIDED, gather
from phasegate.engine.report.knowledge import learn
from phasegate.engine.report.measures import metrics
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from phasegate.engine.watch.history import gate_waits, learned
from tests.fixtures import load_run, parse_jsonl

from .helpers import command, run_plan

PLAN = """
name: gated
agents: {a: {}}
phases:
  - id: build
    tasks: [{id: make, run: "true"}]
  - id: ship
    tasks: [{id: deploy, run: "true"}]
gates:
  - {id: review, after: build}
"""
DEADLINE = 20.0  # seconds a test waits for the gate to open, at most


async def _when_open(runners: list[Runner]) -> Runner:
    """The run's runner, once its gate waits for a decision (polled, with a deadline)."""
    limit = time.monotonic() + DEADLINE
    while not runners or getattr(runners[0].state.gates.get("review"), "status", "") != "open":
        assert time.monotonic() < limit, "the gate never opened"
        await asyncio.sleep(0.01)
    return runners[0]


async def _run(
    tmp_path: Path, store: MemoryStore, run_id: str, decide: str
) -> tuple[Runner, list[ev.Event]]:
    """Run the plan; once the gate waits, `decide`: "approve" (alice), or "stop" (the run is
    stopped as SIGTERM stops it). Then learn from it, as the front end does when it ends."""
    runners: list[Runner] = []

    async def operator() -> None:
        try:
            runner = await _when_open(runners)
        except AssertionError:  # (the run must end all the same, to say so)
            for r in runners:
                r.cancel("the gate never opened")
            raise
        if decide == "approve":
            command(runner, "approve", {"gate": "review", "reason": ""}, "alice", 1000)
        else:
            runner.cancel("stopped by SIGTERM")

    helper = asyncio.ensure_future(operator())
    await run_plan(tmp_path, PLAN, store=store, on_runner=runners.append, run_id=run_id)
    await helper
    await learn(store, run_id, str(tmp_path / run_id))
    return runners[0], [e for _, e in await store.read_events(run_id)]


async def test_a_wait_the_run_s_stop_ended_is_no_approval_wait_for_the_forecast(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    first, _ = await _run(tmp_path, store, "run1", "approve")
    g = first.state.gates["review"]
    assert g.status == "passed" and g.opened_at is not None and g.closed_at is not None
    waited = g.closed_at - g.opened_at
    stopped, events = await _run(tmp_path, store, "run2", "stop")
    assert stopped.state.status is RunStatus.CANCELLED
    # nobody decided the gate: it was left open (undecided), not closed `rejected`
    assert not [e for e in events if isinstance(e, ev.GateClosed)]
    assert stopped.state.gates["review"].status == "open"
    f = gather("run2", events)
    assert f.gate_status("review") == NOT_DECIDED and not f.decided("review")
    assert not f.rejections and metrics(f)["quality_compliance"] is None
    # the history holds the approved run's wait only: the forecast's median is that one
    assert (await store.durations("gated"))["gate:review"] == [pytest.approx(waited)]
    assert gate_waits(await learned(store, "gated")) == {"review": pytest.approx(waited)}


def _recorded(rows: list[tuple[float, str, dict[str, Any]]]) -> str:
    t0 = 1_790_000_000.0
    return "\n".join(
        json.dumps(
            {"seq": i + 1, "type": name, "ts": t0 + ts, "v": 2 if name == "run.started" else 1}
            | {"data": data}
        )
        for i, (ts, name, data) in enumerate(rows)
    )


START = {
    "run_id": "old", "plan_name": "gated", "plan_path": "/plans/gated.yaml",
    "phases": [{"id": "build", "title": "", "timebox": None},
               {"id": "ship", "title": "", "timebox": None}],
    "tasks": [{"id": "make", "phase": "build", "agent": "a", "needs": [], "estimate": None},
              {"id": "deploy", "phase": "ship", "agent": "a", "needs": [], "estimate": None}],
    "agents": [{"id": "a", "slots": 1, "capabilities": []}],
    "gates": [{"id": "review", "after": "build", "approval": "manual", "approvers": [],
               "quorum": 1}],
}  # fmt: skip


def _stopped_at_the_gate(reject_first: bool = False) -> str:
    """A run recorded by an earlier engine: SIGTERM while the gate waited closed it `rejected`
    with the stop's reason (`reject_first`: alice had rejected it just before)."""
    said = "stopped by SIGTERM"
    rows: list[tuple[float, str, dict[str, Any]]] = [
        (0, "run.started", START),
        (0, "phase.started", {"phase": "build"}),
        (0, "task.started", {"task": "make", "attempt": 1, "agent": "a", "pid": 9, "pgid": 9,
                             "command": "true", "proc_started": None}),
        (1, "task.finished", {"task": "make", "attempt": 1, "status": "succeeded",
                              "exit_code": 0}),
        (1, "phase.finished", {"phase": "build", "status": "succeeded"}),
        (1, "gate.opened", {"gate": "review", "attempt": 1, "criteria": [],
                            "evidence_hash": "h", "approval": "manual"}),
    ]  # fmt: skip
    if reject_first:
        said = "rejected by alice: no"
        rows.append((50, "gate.voted", {"gate": "review", "decision": "reject", "user": "alice",
                                        "uid": 1, "reason": "no"}))  # fmt: skip
    rows += [
        (60, "run.cancelling", {"reason": "stopped by SIGTERM"}),
        (60, "gate.closed", {"gate": "review", "outcome": "rejected", "reason": said}),
        (60, "task.finished", {"task": "deploy", "attempt": 0, "status": "cancelled",
                               "exit_code": None, "reason": "stopped by SIGTERM"}),
        (60, "run.finished", {"status": "cancelled", "reason": "stopped by SIGTERM"}),
    ]  # fmt: skip
    return _recorded(rows)


async def test_a_run_an_earlier_engine_recorded_says_not_decided_and_keeps_no_wait(
    tmp_path: Path,
) -> None:
    """Runs recorded before the fix: their `rejected` closure as the run stopped is read as
    the gate left undecided (no rejection, no quality score, no wait for the history)."""
    store = MemoryStore()
    await load_run(store, parse_jsonl(_stopped_at_the_gate(), "old"))
    f = gather("old", [e for _, e in await store.read_events("old")])
    assert f.gate_status("review") == NOT_DECIDED and not f.decided("review")
    assert not f.rejections and metrics(f)["quality_compliance"] is None
    await learn(store, "old", str(tmp_path))
    assert "gate:review" not in await store.durations("gated")


async def test_a_person_s_rejection_just_before_the_stop_is_still_a_decision(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    await load_run(store, parse_jsonl(_stopped_at_the_gate(reject_first=True), "old"))
    f = gather("old", [e for _, e in await store.read_events("old")])
    assert f.gate_status("review") == "rejected" and f.decided("review")
    assert [r.reason for r in f.rejections] == ["rejected by alice: no"]
    await learn(store, "old", str(tmp_path))
    assert (await store.durations("gated"))["gate:review"] == [pytest.approx(59.0)]


async def test_a_stop_while_the_gate_s_criteria_run_leaves_it_undecided(tmp_path: Path) -> None:
    """Stopped while its criteria ran, the gate opened after the stop and waited for a decision
    that no one could give any more: the run never ended."""
    runners: list[Runner] = []

    async def operator() -> None:
        limit = time.monotonic() + DEADLINE
        while (
            not runners
            or not runners[0].state.phases
            or (runners[0].state.phases["build"].status != "succeeded")
        ):
            assert time.monotonic() < limit, "the phase never ended"
            await asyncio.sleep(0.01)
        assert runners[0].state.gates["review"].status == "waiting"  # (its criterion runs)
        while not any(marker in " ".join(p.info["cmdline"] or ()) for p in
                      psutil.process_iter(["cmdline"])):  # fmt: skip
            assert time.monotonic() < limit, "the criterion never started"
            await asyncio.sleep(0.01)
        runners[0].cancel("stopped by SIGTERM")

    marker = f"sleep {30 + uuid.uuid4().int % 1000 / 1000:.3f}"  # (this test's own criterion)
    slow = PLAN.replace("{id: review, after: build}", "{id: review, after: build, "
                        f"criteria: [{{run: '{marker}'}}]}}")  # fmt: skip
    helper = asyncio.ensure_future(operator())
    state, store = await asyncio.wait_for(
        run_plan(tmp_path, slow, on_runner=runners.append), DEADLINE
    )
    await helper
    assert state.status is RunStatus.CANCELLED
    # (its criterion stopped with the run: the gate holds that evidence, nobody decided it)
    assert state.gates["review"].status == "open"
    said = state.gates["review"].criteria
    assert said[0]["detail"] == "was stopped: the run was cancelled (stopped by SIGTERM)", said
    assert not [e for _, e in await store.read_events("run1") if isinstance(e, ev.GateClosed)]
