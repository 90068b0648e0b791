"""The lessons of a run that did not go as planned say so: a task that failed or timed out
(its reason, its attempts, what to change), a cancelled run (by whom, what it stopped), a take-
over of a dead engine. They said `No findings: the run went as planned.` of each of them."""

from __future__ import annotations

import json
from typing import Any

from phasegate.engine.report import make
from phasegate.engine.store import MemoryStore
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
TASKS = [
    {"id": "prep", "phase": "p", "agent": "w", "needs": [], "estimate": None},
    {"id": "unit", "phase": "p", "agent": "w", "needs": ["prep"], "estimate": None},
    {"id": "pack", "phase": "p", "agent": "w", "needs": ["unit"], "estimate": None},
]


class Run:
    """A run's events as they are recorded (times in seconds from its start)."""

    def __init__(self) -> None:
        started = {
            "run_id": "r", "plan_name": "wrong", "plan_path": "/plans/wrong.yaml",
            "phases": [{"id": "p", "title": "", "timebox": None}], "tasks": TASKS,
            "agents": [{"id": "w", "slots": 1, "capabilities": []}], "gates": [],
        }  # fmt: skip
        self.rows: list[tuple[float, str, dict[str, Any]]] = [(0, "run.started", started)]
        self.add(0, "phase.started", phase="p")

    def add(self, ts: float, name: str, **data: Any) -> Run:
        self.rows.append((ts, name, data))
        return self

    def attempt(self, task: str, n: int, start: float, end: float, status: str = "succeeded",
                reason: str = "") -> Run:  # fmt: skip
        self.add(start, "task.ready", task=task)
        self.add(start, "task.started", task=task, attempt=n, agent="w", pid=100 + n,
                 pgid=100 + n, command="true", proc_started=None)  # fmt: skip
        return self.add(end, "task.finished", task=task, attempt=n, status=status,
                        exit_code=0 if status == "succeeded" else 1, lines=0, dropped=0,
                        reason=reason)  # fmt: skip

    def text(self) -> str:
        return "\n".join(
            json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts,
                        "v": 2 if name == "run.started" else 1, "data": data})
            for i, (ts, name, data) in enumerate(self.rows)
        )  # fmt: skip


async def _lessons(run: Run) -> tuple[list[dict[str, str]], str]:
    store = MemoryStore()
    await load_run(store, parse_jsonl(run.text(), "r"))
    report = await make.run_report(store, "r", ("lessons",))
    return report["lessons"]["findings"], make.render(report, "md")


async def test_a_task_that_failed_after_its_retries_is_a_finding_with_its_reason() -> None:
    """Run 9448ce17: `unit` failed at both its attempts, the run failed; its lessons said the
    run went as planned."""
    run = Run().attempt("prep", 1, 0, 1)
    run.attempt("unit", 1, 1, 2, "failed", "exited with code 1")
    run.add(2, "task.retrying", task="unit", attempt=2, delay=0.5, reason="exited with code 1")
    run.attempt("unit", 2, 2.5, 3, "failed", "exited with code 1")
    run.add(3, "task.blocked", task="pack", reason="phase 'p' failed")
    run.add(3, "phase.finished", phase="p", status="failed")
    run.add(3, "run.finished", status="failed", reason="phase 'p' failed")
    findings, text = await _lessons(run)
    failed = [x for x in findings if x["subject"] == "unit"]
    assert [x["kind"] for x in failed] == ["failure"], findings
    assert failed[0]["finding"] == "failed: exited with code 1 (2 attempts, none succeeded)"
    assert "fix the cause" in failed[0]["recommendation"]
    assert "phasegate logs r unit" in failed[0]["recommendation"]
    assert "went as planned" not in text
    assert "| failure | unit | failed: exited with code 1 (2 attempts, none succeeded) |" in text


async def test_a_timed_out_task_and_a_cancelled_run_are_findings() -> None:
    """Run 21d86ecc: a task timed out, then root cancelled the run, stopping another task."""
    run = Run().attempt("prep", 1, 0, 1, "timed_out", "timed out after 1s")
    run.attempt("unit", 1, 1, 2)
    run.add(2, "task.ready", task="pack")
    run.add(2, "task.started", task="pack", attempt=1, agent="w", pid=9, pgid=9,
            command="true", proc_started=None)  # fmt: skip
    run.add(3, "run.cancelling", reason="cancelled by root")
    run.add(3, "task.finished", task="pack", attempt=1, status="cancelled", exit_code=-15,
            lines=0, dropped=0, reason="cancelled by root")  # fmt: skip
    run.add(3, "run.finished", status="cancelled", reason="cancelled by root")
    findings, text = await _lessons(run)
    by_kind = {x["kind"]: x for x in findings}
    assert by_kind["failure"]["subject"] == "prep"
    assert by_kind["failure"]["finding"] == "timed out after 1s (its only attempt)"
    assert "raise its timeout" in by_kind["failure"]["recommendation"]
    cancelled = by_kind["cancelled"]
    assert cancelled["subject"] == "run"
    assert cancelled["finding"] == "cancelled by root; tasks it cancelled: pack"
    assert "phasegate note r" in cancelled["recommendation"]  # (no one said why)
    assert "went as planned" not in text


async def test_a_run_taken_over_after_its_engine_died_has_the_take_over_as_a_finding() -> None:
    """Run 10a01065: its engine died, a take-over 12.9 s later ran `unit` again, and the run
    succeeded: its lessons said it went as planned."""
    run = Run().attempt("prep", 1, 0, 1)
    run.add(1, "task.ready", task="unit")
    run.add(1, "task.started", task="unit", attempt=1, agent="w", pid=9, pgid=9,
            command="true", proc_started=None)  # fmt: skip
    run.add(14.9, "run.recovered", by="root", engine_pid=7, last_seen=T0 + 2,
            tasks=[{"task": "unit", "attempt": 1, "action": "rerun", "pids": []}])  # fmt: skip
    run.attempt("unit", 2, 15, 16).attempt("pack", 1, 16, 17)
    run.add(17, "phase.finished", phase="p", status="succeeded")
    run.add(17, "run.finished", status="succeeded", reason="")
    findings, text = await _lessons(run)
    assert [(x["kind"], x["subject"]) for x in findings] == [("interrupted", "run")], findings
    assert "taken over 12.9s later" in findings[0]["finding"]
    assert "went as planned" not in text


async def test_a_run_that_succeeded_as_planned_still_has_no_findings() -> None:
    run = Run().attempt("prep", 1, 0, 1).attempt("unit", 1, 1, 2).attempt("pack", 1, 2, 3)
    run.add(3, "phase.finished", phase="p", status="succeeded")
    findings, text = await _lessons(run.add(3, "run.finished", status="succeeded", reason=""))
    assert findings == [] and "No findings: the run went as planned." in text
