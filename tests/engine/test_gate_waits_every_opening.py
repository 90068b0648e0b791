"""The dry run expects a manual gate to hold the run as long as it did in earlier runs: every
time it opened (rejected, then opened again when its phase ran again), not its last opening
only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.plan.load import load_plan
from phasegate.engine.report.facts import gather
from phasegate.engine.report.knowledge import learn
from phasegate.engine.store import MemoryStore
from phasegate.engine.watch.history import gate_waits, learned
from phasegate.engine.watch.simulate import projected
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
PLAN = """
name: gated
agents: {a: {slots: 1}}
phases:
  - id: build
    tasks: [{id: make, run: "true", estimate: 1}]
  - id: ship
    tasks: [{id: deploy, run: "true", estimate: 1}]
gates:
  - {id: review, after: build, approval: manual, approvers: [alice]}
"""
START = {
    "run_id": "r", "plan_name": "gated", "plan_path": "/plans/gated.yaml",
    "phases": [{"id": "build", "title": "", "timebox": None},
               {"id": "ship", "title": "", "timebox": None}],
    "tasks": [{"id": "make", "phase": "build", "agent": "a", "needs": [], "estimate": 1},
              {"id": "deploy", "phase": "ship", "agent": "a", "needs": [], "estimate": 1}],
    "agents": [{"id": "a", "slots": 1, "capabilities": []}],
    "gates": [{"id": "review", "after": "build", "approval": "manual", "approvers": ["alice"],
               "quorum": 1}],
}  # fmt: skip


def _task(rows: list[Any], task: str, n: int, start: float, end: float) -> None:
    rows.append(
        (
            start,
            "task.started",
            {
                "task": task,
                "attempt": n,
                "agent": "a",
                "pid": 9,
                "pgid": 9,
                "command": "",
                "proc_started": None,
            },
        )
    )
    rows.append((end, "task.finished", {"task": task, "attempt": n, "status": "succeeded",
                                        "exit_code": 0}))  # fmt: skip


def _vote(rows: list[Any], at: float, decision: str, reason: str) -> None:
    rows.append((at, "gate.voted", {"gate": "review", "decision": decision, "user": "alice",
                                    "uid": 1, "reason": reason}))  # fmt: skip


def _opened(at: float, attempt: int) -> tuple[float, str, dict[str, Any]]:
    return (at, "gate.opened", {"gate": "review", "attempt": attempt, "criteria": [],
                                "evidence_hash": "h", "approval": "manual"})  # fmt: skip


def _recording() -> str:
    """make 0-1 s; review waits 60 s and alice rejects it: build runs again (make 61-62 s);
    review waits 30 s more and alice approves it; deploy 92-93 s. The gate held the run 90 s."""
    rows: list[Any] = [(0, "run.started", START), (0, "phase.started", {"phase": "build"})]
    _task(rows, "make", 1, 0, 1)
    rows += [(1, "phase.finished", {"phase": "build", "status": "succeeded"}), _opened(1, 1)]
    _vote(rows, 61, "reject", "needs tests")
    rows += [
        (61, "gate.closed", {"gate": "review", "outcome": "rejected", "reason": "needs tests"}),
        (61, "phase.rewound", {"phase": "build", "gate": "review", "reason": "needs tests"}),
        (61, "phase.started", {"phase": "build"}),
    ]
    _task(rows, "make", 2, 61, 62)
    rows += [(62, "phase.finished", {"phase": "build", "status": "succeeded"}), _opened(62, 2)]
    _vote(rows, 92, "approve", "ok")
    rows += [
        (92, "gate.closed", {"gate": "review", "outcome": "passed", "reason": ""}),
        (92, "phase.started", {"phase": "ship"}),
    ]
    _task(rows, "deploy", 1, 92, 93)
    rows += [
        (93, "phase.finished", {"phase": "ship", "status": "succeeded"}),
        (93, "run.finished", {"status": "succeeded", "reason": ""}),
    ]
    return "\n".join(
        json.dumps(
            {"seq": i + 1, "type": name, "ts": T0 + ts, "data": data}
            | {"v": 2 if name == "run.started" else 1}  # (the gates' version of run.started)
        )
        for i, (ts, name, data) in enumerate(rows)
    )


async def test_a_gate_s_wait_in_a_run_is_every_opening_s() -> None:
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording(), "r"))
    f = gather("r", [e for _, e in await store.read_events("r")])
    assert f.gate_waits() == {"review": pytest.approx(90.0)}  # (60 s rejected, 30 s approved)


async def test_the_dry_run_expects_the_wait_of_every_opening(tmp_path: Path) -> None:
    """It learnt 30 s (the last opening) for a gate that held the run 90 s."""
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording(), "r"))
    await learn(store, "r", str(tmp_path / "r"))
    found = await learned(store, "gated")
    assert gate_waits(found) == {"review": pytest.approx(90.0)}
    path = tmp_path / "gated.yaml"
    path.write_text(PLAN, encoding="utf-8")
    schedule = projected(load_plan(str(path)), found)
    assert schedule.total == pytest.approx(1 + 90 + 1)
