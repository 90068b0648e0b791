"""A gate whose criterion's command is killed before it ends: by the run's cancel (the gate
stayed `waiting`, read as "not reached", as if its phase had never ended), or by the criteria's
timeout (its evidence read `exit None`). A killed criterion is a failed check that says why."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import psutil
import pytest

from phasegate.engine.host import still_waiting
from phasegate.engine.logline import log_line
from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import GateStatus, RunStatus
from phasegate.engine.report import build
from phasegate.engine.report.facts import NOT_DECIDED, gather
from phasegate.engine.report.measures import metrics
from phasegate.engine.run import gates
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import operated, run_plan

DEADLINE = 20.0  # seconds a test waits for the criterion's command to start, at most


def _plan(marker: str, approval: str) -> str:
    return f"""
    name: killedcriterion
    agents: {{w: {{}}}}
    phases:
      - id: one
        tasks: [{{id: a, run: "true", agent: w}}]
      - id: two
        tasks: [{{id: b, run: "true", agent: w}}]
    gates:
      - id: check
        after: one
        approval: {approval}
        criteria: [{{file: plan.yaml}}, {{run: "sleep {marker}"}}, {{run: "true"}}]
    feedback:
      at: check
      questions: [{{id: said, text: "Anything to say?"}}]
    """


def _running(marker: str) -> bool:
    return any(
        f"sleep {marker}" in " ".join(p.info["cmdline"] or ())
        for p in psutil.process_iter(["cmdline"])
    )


@pytest.mark.parametrize("approval", ["manual", "auto"])
async def test_a_cancel_while_a_criterion_runs_leaves_the_gate_undecided_saying_so(
    tmp_path: Path, approval: str
) -> None:
    marker = f"{30 + uuid.uuid4().int % 1000 / 1000:.3f}"  # (this test's own `sleep`)

    async def operator(runner: Runner, store: MemoryStore) -> None:
        limit = time.monotonic() + DEADLINE
        while not _running(marker):
            assert time.monotonic() < limit, "the criterion never started"
            await asyncio.sleep(0.01)
        runner.cancel("stopped by SIGTERM")

    state, store = await operated(tmp_path, _plan(marker, approval), operator)
    assert state.status is RunStatus.CANCELLED
    gate = state.gates["check"]
    # its phase ended and its criteria ran: not `waiting` (never reached), nor waiting for people
    assert gate.status is GateStatus.OPEN
    assert [(c["kind"], c["passed"], c["detail"]) for c in gate.criteria] == [
        ("file", True, gate.criteria[0]["detail"]),
        ("run", False, "was stopped: the run was cancelled (stopped by SIGTERM)"),
    ]
    events = [e for _, e in await store.read_events("run1")]
    assert not [e for e in events if isinstance(e, ev.GateClosed)]  # (nobody decided it)
    opened = [e for e in events if isinstance(e, ev.GateOpened)]
    assert [log_line(e) for e in opened] == [None]  # (no "waits for approval: approve ...")
    f = gather("run1", events)  # what `gates`, the audit and the reports say of it
    assert f.gate_status("check") == NOT_DECIDED
    assert metrics(f)["quality_compliance"] is None  # (a stop is no verdict on the work)
    qa = build.qa(f, metrics(f))  # (the criterion killed is no failed check: nobody judged it)
    assert (qa["criteria_passed"], qa["criteria_total"]) == (1, 1), qa
    # nobody is asked: not the plan's feedback (at the gate), nor a take-over's "waits for"
    assert not [e for e in events if isinstance(e, ev.FeedbackAsked)]
    assert gate.approval == "auto" and still_waiting(state, time.time()) == []
    assert not _running(marker)


async def test_a_criterion_its_timeout_killed_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gates, "CRITERION_TIMEOUT", 0.5)
    plan = """
    name: slowcriteria
    agents: {w: {}}
    phases:
      - id: one
        tasks: [{id: a, run: "true", agent: w}]
    gates:
      - id: check
        after: one
        approval: auto
        criteria: [{run: "sleep 30"}, {metric: {run: "sleep 30", min: 1}}]
    """
    state, _ = await run_plan(tmp_path, plan)
    gate = state.gates["check"]
    said = "was stopped: it ran past the criteria's timeout of 0.5s"
    assert [(c["passed"], c["detail"]) for c in gate.criteria] == [(False, said), (False, said)]
    assert gate.status is GateStatus.FAILED
    assert gate.reason == f"criteria failed: run sleep 30: {said}; metric sleep 30: {said}"
