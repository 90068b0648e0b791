"""What the end-of-run reports tell a reader, from recorded runs: each test names a wrong
statement QA found in them (flaky tasks that never failed, late tasks a few ms over, gates
"waiting" in a finished run, a rejection missing from the lessons, open items, `0.0x`)."""

from __future__ import annotations

import json
import re
from typing import Any

from phasegate.engine.report import make
from phasegate.engine.report.knowledge import entries
from phasegate.engine.store import MemoryStore
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
Row = tuple[float, str, dict[str, Any]]
VERSION = {"run.started": 2}  # (version 1 had no gates)

PLAN = """
name: truth
agents: {w: {slots: 1}}
risks: {actions: {retry_storm: {fallback: rollback-staging}}}
phases:
  - id: p1
    tasks:
      - {id: hello, run: "true", estimate: 4}
      - {id: rollback-staging, run: "true"}
  - id: p2
    tasks:
      - {id: bye, run: "true", estimate: 45}
gates:
  - {id: g, after: p1, on_reject: {rewind_to: p1, max_attempts: 3}}
"""
TASKS = [
    {"id": "hello", "phase": "p1", "agent": "w", "needs": [], "estimate": 4.0},
    {"id": "rollback-staging", "phase": "p1", "agent": "w", "needs": [], "estimate": None},
    {"id": "bye", "phase": "p2", "agent": "w", "needs": [], "estimate": 45.0},
]


class Run:
    """A run's events, written as they would be recorded (times in seconds from its start)."""

    def __init__(self) -> None:
        self.rows: list[Row] = [
            (0, "run.started", {
                "run_id": "r", "plan_name": "truth", "plan_path": "/plans/truth.yaml",
                "phases": [{"id": "p1", "title": "", "timebox": None},
                           {"id": "p2", "title": "", "timebox": None}],
                "tasks": TASKS, "agents": [{"id": "w", "slots": 1, "capabilities": []}],
                "gates": [{"id": "g", "after": "p1", "approval": "manual", "approvers": [],
                           "quorum": 1}],
            }),
        ]  # fmt: skip

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

    def standby_skipped(self, ts: float) -> Run:
        """The risk rule's fallback was not needed: skipped as its phase ends."""
        return self.add(ts, "task.skipped", task="rollback-staging",
                        reason="not needed: no retry_storm risk was raised")  # fmt: skip

    def gate(self, ts: float, outcome: str, reason: str, attempt: int = 1,
             criteria: list[dict[str, Any]] | None = None) -> Run:  # fmt: skip
        self.add(ts, "gate.opened", gate="g", attempt=attempt, criteria=criteria or [],
                 evidence_hash="h", approval="manual")  # fmt: skip
        if outcome != "failed":
            decision = "approve" if outcome == "passed" else "reject"
            self.add(ts, "gate.voted", gate="g", decision=decision, user="alice", uid=1,
                     host="h", tty="", ssh="", reason=reason)  # fmt: skip
        return self.add(ts, "gate.closed", gate="g", outcome=outcome, reason=reason)

    def second_phase(self, ts: float, took: float = 45.0) -> Run:
        self.add(ts, "phase.started", phase="p2")
        self.attempt("bye", 1, ts, ts + took)
        self.add(ts + took, "phase.finished", phase="p2", status="succeeded")
        return self.add(ts + took, "run.finished", status="succeeded", reason="")

    def text(self) -> str:
        lines = []
        for i, (ts, name, data) in enumerate(self.rows):
            v = VERSION.get(name, 1)
            lines.append(
                json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts, "v": v, "data": data})
            )
        return "\n".join(lines)


async def _report(run: Run) -> tuple[dict[str, Any], str, MemoryStore]:
    store = MemoryStore()
    await load_run(store, parse_jsonl(run.text(), "r"))
    await store.save_plan("r", PLAN, {})
    report = await make.run_report(store, "r", ("qa", "performance", "lessons"))
    return report, make.render(report, "md"), store


def _findings(report: dict[str, Any], kind: str) -> list[dict[str, str]]:
    return [x for x in report["lessons"]["findings"] if x["kind"] == kind]


def _rewound() -> Run:
    """hello succeeds, gate g is rejected and sends the run back to p1: hello runs again
    (attempt 2, succeeded) and g passes."""
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "rejected", "rejected by alice: needs more tests")
    run.add(5, "phase.rewound", phase="p1", gate="g", reason="rejected by alice: needs more tests")
    run.add(5, "phase.started", phase="p1").attempt("hello", 2, 5, 9.0)
    run.add(9.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(10, "passed", "approved by alice", attempt=2)
    return run.second_phase(10)


async def test_a_task_run_again_by_a_gates_rewind_is_not_flaky() -> None:
    """It read `flaky | hello | succeeded after 2 attempts`, and that went into the index."""
    report, text, _ = await _report(_rewound())
    assert _findings(report, "flaky") == []
    assert "flaky" not in text and "succeeded after" not in text


async def test_a_phase_run_twice_has_one_duration_in_its_table_and_its_chart() -> None:
    """p1 ran 0-4 s, then again 5-9 s after g's rejection. The phases' table said 4 s (its last
    time) while the Gantt chart drew one band of 9 s over both: two bands of 4 s now, and the
    table says it ran twice."""
    report, text, _ = await _report(_rewound())
    p1 = next(p for p in report["performance"]["phases"] if p["id"] == "p1")
    assert p1["duration"] == 4.0 and [(x["start"], x["end"]) for x in p1["passes"]] == [
        (0.0, 4.0),
        (5.0, 9.0),
    ]
    assert "| p1 | succeeded (ran 2 times; the last counted) | 4.0s |" in text
    page = make.render(report, "html")
    assert "<title>phase p1 #1: 4.0s</title>" in page
    assert "<title>phase p1 #2: 4.0s</title>" in page
    assert "<title>phase p2: 45.0s</title>" in page and "phase p1: 9.0s" not in page


async def test_the_chart_s_phase_bands_are_in_the_order_they_ran() -> None:
    """p1, p2, then back to p1 and p2: the bands were listed phase by phase (p1 #1, p1 #2,
    p2 #1, p2 #2), so two bands side by side had the same colour."""
    run = Run().add(0, "phase.started", phase="p1").attempt("hello", 1, 0, 4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.add(5.0, "phase.started", phase="p2").attempt("bye", 1, 5.0, 8.0)
    run.add(8.0, "phase.finished", phase="p2", status="succeeded")
    run.add(8.0, "phase.rewound", phase="p1", gate="g", reason="rejected by alice")
    run.add(9.0, "phase.started", phase="p1").attempt("hello", 2, 9.0, 12.0)
    run.add(12.0, "phase.finished", phase="p1", status="succeeded")
    run.add(13.0, "phase.started", phase="p2").attempt("bye", 2, 13.0, 16.0)
    run.add(16.0, "phase.finished", phase="p2", status="succeeded")
    report, _, _ = await _report(run.add(16.0, "run.finished", status="succeeded", reason=""))
    page = make.render(report, "html")
    bands = re.findall(r'<rect class="(band2?)"[^>]*><title>phase (\S+ #\d)', page)
    assert bands == [("band", "p1 #1"), ("band2", "p2 #1"), ("band", "p1 #2"), ("band2", "p2 #2")]


async def test_an_amendment_never_decided_is_not_open_once_the_run_has_ended() -> None:
    """The report said `change-1 by bob (open)` of a run that had ended: it could no longer be
    decided."""
    run = Run().add(0, "phase.started", phase="p1")
    diff = [{"what": "task", "id": "extra", "change": "added", "phase": "p1"}]
    run.add(1.0, "change.proposed", change="change-1", by="bob", uid=1, diff=diff)
    run.attempt("hello", 1, 0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5)
    report, text, _ = await _report(run)
    assert [c["status"] for c in report["lessons"]["scope_changes"]] == ["not decided"]
    assert "- change-1 by bob (not decided)" in text


def test_a_phase_that_started_after_the_last_bar_has_a_band_of_its_own_length() -> None:
    """A phase held at its start (nothing run yet) drew a band of negative length past the
    chart's edge: `phase p2: -2000ms`."""
    from phasegate.engine.report.charts import gantt

    bars = [{"task": "a", "start": 0.0, "end": 2.0, "status": "succeeded"}]
    svg = gantt(bars, [("p1", 0.0, 2.0), ("p2", 4.0, 4.5)], [], [])
    assert re.findall(r"<title>phase p2: ([^<]*)</title>", svg) == ["500ms"]


async def test_a_task_restarted_by_an_amendment_is_not_flaky() -> None:
    """`amend --restart`: its attempt ends cancelled and a second one runs."""
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 1.0, "cancelled", "restarted by change-1: its command changed")
    run.add(1.0, "task.retrying", task="hello", attempt=2, delay=0.0,
            reason="restarted by change-1: its command changed")  # fmt: skip
    run.attempt("hello", 2, 1.0, 5.0).standby_skipped(5.0)
    run.add(5.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5)
    report, text, store = await _report(run)
    assert _findings(report, "flaky") == []
    assert "flaky" not in text
    facts = await make.facts_of(store, "r")
    assert not [k for k in entries(facts, report["lessons"]) if "fails at first" in k.text]


async def test_a_task_whose_first_attempt_failed_is_flaky() -> None:
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 1.0, "failed", "exited with code 1")
    run.add(1.0, "task.retrying", task="hello", attempt=2, delay=1.0, reason="exited with code 1")
    run.attempt("hello", 2, 2.0, 6.0).standby_skipped(6.0)
    run.add(6.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(6, "passed", "approved by alice").second_phase(6)
    report, text, _ = await _report(run)
    [flaky] = _findings(report, "flaky")
    assert flaky["subject"] == "hello"
    assert flaky["finding"] == "succeeded after 1 failed attempt (2 in all)"
    assert "| flaky | hello | succeeded after 1 failed attempt (2 in all) |" in text


async def test_a_few_milliseconds_over_an_estimate_is_on_time() -> None:
    """4.004 s against 4 s counted as late: adherence 33% where every task was within ms."""
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 4.004).standby_skipped(4.004)
    run.add(4.004, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5, took=45.003)
    report, text, _ = await _report(run)
    assert report["metrics"]["timeline_adherence"] == 100.0
    assert "| timeline adherence | 100% |" in text
    assert "On time: tasks and phases within 10% or 0.5 s of their estimate" in text


async def test_well_over_an_estimate_is_late() -> None:
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 4.6).standby_skipped(4.6)  # (0.5 s is more than 10% of 4 s)
    run.add(4.6, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5, took=45.0)
    report, _, _ = await _report(run)
    assert report["metrics"]["timeline_adherence"] == 50.0


def _failed_in_p1() -> Run:
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 1.0, "failed", "exited with code 1").standby_skipped(1.0)
    run.add(1.0, "phase.finished", phase="p1", status="failed")
    return run.add(1.0, "run.finished", status="failed", reason="task hello failed")


async def test_a_gate_the_run_never_reached_is_not_reached() -> None:
    """It read `### Gate g (after p1): waiting` and `n/a of gates passed; criteria passed 0/0`."""
    report, text, _ = await _report(_failed_in_p1())
    [gate] = report["qa"]["gates"]
    assert gate["status"] == "not reached"
    assert "### Gate g (after p1): not reached" in text
    assert "waiting" not in text
    assert "Quality compliance: n/a, no gate was decided (1 not reached)" in text
    assert "n/a of gates passed" not in text and "0/0" not in text


async def test_a_gate_of_a_run_under_way_still_waits() -> None:
    run = Run().add(0, "phase.started", phase="p1")
    run.add(0, "task.ready", task="hello")
    report, text, _ = await _report(run)
    assert report["qa"]["gates"][0]["status"] == "waiting"
    assert "### Gate g (after p1): waiting" in text


async def test_a_gate_rejected_before_it_passed_is_a_lesson() -> None:
    """The rejection cost a rework of p1, but the lessons did not mention it."""
    report, text, store = await _report(_rewound())
    [gate] = _findings(report, "gate")
    assert gate["subject"] == "g"
    assert gate["finding"] == (
        "rejected at attempt 1: rejected by alice: needs more tests, so phase p1 ran again; "
        "it passed at attempt 2"
    )
    assert "| gate | g | rejected at attempt 1: rejected by alice: needs more tests" in text
    facts = await make.facts_of(store, "r")
    assert [k for k in entries(facts, report["lessons"]) if "needs more tests" in k.text]


async def test_open_items_name_the_failed_gate_not_an_unneeded_fallback() -> None:
    """A run failed on its gate's criterion read `Open items: none`; a fallback of a risk rule
    skipped as not needed was an open item."""
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    failing = [{"kind": "run", "spec": "pytest -q", "passed": False, "detail": "exit 1"}]
    run.gate(4.0, "failed", "criterion failed: run pytest -q", criteria=failing)
    run.add(4.0, "run.finished", status="failed", reason="gate g failed")
    report, text, _ = await _report(run)
    items = report["lessons"]["handoff"]["open_items"]
    assert {"gate": "g", "status": "failed", "reason": "criterion failed: run pytest -q"} in items
    assert not [i for i in items if i.get("task") == "rollback-staging"]
    assert "- gate g: failed criterion failed: run pytest -q" in text
    assert "rollback-staging" not in text.split("Open items:")[1]
    assert "Open items:\n- none" not in text


async def test_a_small_ratio_to_an_estimate_is_not_zero() -> None:
    """2.0 s against 45 s read `(0.0x)`."""
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(4, "passed", "approved by alice").second_phase(4, took=2.0)
    report, text, _ = await _report(run)
    [estimate] = _findings(report, "estimate")
    assert estimate["finding"] == "took 2.0s against an estimate of 45.0s (0.04x)"
    assert "(0.0x)" not in text


async def test_a_task_an_amendment_added_is_read_with_its_needs_and_estimate() -> None:
    # (the report read needs, estimates and phases from run.started only: an added task had
    # none, and the actual critical path was the added task alone)
    from phasegate.engine.report.measures import actual_critical_path

    later = {"id": "later", "phase": "p2", "agent": "w", "needs": ["bye"], "estimate": 2.0}
    run = Run().add(0, "phase.started", phase="p1")
    run.attempt("hello", 1, 0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice")
    run.add(5, "phase.started", phase="p2")
    run.add(6, "plan.amended", change="change-1", plan_version=2, by="alice", text=PLAN,
            diff=[{"what": "task", "id": "later", "change": "added", "phase": "p2"}],
            phases=[{"id": "p1", "title": "", "timebox": None},
                    {"id": "p2", "title": "", "timebox": None}],
            tasks=[*TASKS, later], gates=[], agents=[], operators=[])  # fmt: skip
    run.attempt("bye", 1, 5, 50.0).attempt("later", 1, 50.0, 52.0)
    run.add(52.0, "phase.finished", phase="p2", status="succeeded")
    run.add(52.0, "run.finished", status="succeeded", reason="")
    _, _, store = await _report(run)
    facts = await make.facts_of(store, "r")
    assert facts.needs["later"] == ("bye",) and facts.estimates["later"] == 2.0
    assert facts.phase_of["later"] == "p2"
    assert actual_critical_path(facts)[-2:] == ["bye", "later"]


async def test_a_past_run_s_schedule_uses_the_history_it_started_with() -> None:
    # (a run's "Simulated schedule" changed each time the plan ran again: it read every run's
    # durations, later ones and its own included)
    store = MemoryStore()
    for i, took in enumerate((6.0, 8.0)):  # two runs before this one
        await store.record_durations("truth", f"early{i}", T0 - 100 + i, {"hello": took})
    await store.record_durations("truth", "later", T0 + 1000, {"hello": 100.0})
    await load_run(store, parse_jsonl(_rewound().text(), "r"))
    await store.save_plan("r", PLAN, {})
    report = await make.run_report(store, "r", ("coordination",))
    hello = next(t for t in report["coordination"]["schedule"]["tasks"] if t["task"] == "hello")
    assert hello["end"] - hello["start"] == 7.0  # the median of 6 and 8 (not with 100)


async def test_the_time_the_engine_was_dead_is_no_work() -> None:
    # (busy time, utilisation and efficiency counted the 5 s between the kill and the take-over)
    run = Run().add(0, "phase.started", phase="p1")
    run.add(0, "task.ready", task="hello")
    run.add(0, "task.started", task="hello", attempt=1, agent="w", pid=101, pgid=101,
            command="true", proc_started=None)  # fmt: skip
    run.add(7, "run.recovered", by="bob", engine_pid=99, last_seen=2.0 + T0,
            tasks=[{"task": "hello", "attempt": 1, "action": "rerun", "pids": []}])  # fmt: skip
    run.attempt("hello", 2, 7, 11).standby_skipped(11)
    run.add(11, "phase.finished", phase="p1", status="succeeded")
    run.gate(11, "passed", "approved by alice").second_phase(11, took=1.0)
    report, text, _ = await _report(run)
    perf = report["performance"]
    assert perf["engine_down"] == 5.0
    [w] = perf["agents"]
    assert w["busy"] == 2.0 + 4.0 + 1.0  # attempt 1 until the engine died, 2 and bye
    assert perf["duration"] == 12.0 - 5.0
    assert "the engine was down 5.0s more (not counted)" in text


async def test_an_amendment_s_deciders_and_their_reasons_are_in_the_lessons() -> None:
    """The lessons' scope changes said who proposed a change, never who approved it nor why
    (`phasegate approve RUN change-1 --reason ...`)."""
    run = Run().add(0, "phase.started", phase="p1")
    diff = [{"what": "task", "id": "extra", "change": "added", "phase": "p1"}]
    run.add(1.0, "change.proposed", change="change-1", by="bob", uid=1, diff=diff)
    run.add(2.0, "gate.voted", gate="change-1", decision="approve", user="carol", uid=2,
            host="h", tty="", ssh="", reason="the [b]extra[/b] check is cheap")  # fmt: skip
    run.add(2.0, "change.closed", change="change-1", outcome="passed", reason="")
    run.attempt("hello", 1, 0, 4.0).standby_skipped(4.0)
    run.add(4.0, "phase.finished", phase="p1", status="succeeded")
    run.gate(5, "passed", "approved by alice").second_phase(5)
    report, text, _ = await _report(run)
    decided = report["lessons"]["scope_changes"][0]["decided"]
    assert decided == [
        {"by": "carol", "decision": "approve", "reason": "the [b]extra[/b] check is cheap"}
    ]
    assert "  - approved by carol: the \\[b\\]extra\\[/b\\] check is cheap" in text  # (escaped)


async def test_a_cancelled_run_s_open_items_and_phases_read_once_each() -> None:
    """`flaky: cancelled cancelled by root` (the status, then a reason saying it again), a
    phase the cancelled run never started listed `pending`, and `1 forecasts`."""
    run = Run().add(0, "phase.started", phase="p1")
    run.add(0.5, "forecast.updated", eta=10.0, guessed=0, phases={"p1": 10.0})
    run.attempt("hello", 1, 0, 2.0, "cancelled", "cancelled by root")
    run.add(2.0, "task.skipped", task="rollback-staging", reason="cancelled by root")
    run.add(2.0, "phase.finished", phase="p1", status="cancelled")
    run.add(2.0, "task.blocked", task="bye", reason="the run was cancelled")
    report, text, _ = await _report(
        run.add(2.0, "run.finished", status="cancelled", reason="cancelled by root")
    )
    items = text.split("Open items:")[1]
    assert "- hello: cancelled by root" in items and "cancelled cancelled" not in items
    phases = {p["id"]: p["status"] for p in report["performance"]["phases"]}
    assert phases == {"p1": "cancelled", "p2": "not reached"}
    assert "Forecast accuracy: 1 forecast, mean error" in text


def test_the_qa_reports_criteria_count_leaves_out_declared_outputs() -> None:
    # regression: `criteria passed 3/3` for a gate of 2 criteria: the phase's declared outputs,
    # shown as the gate's evidence (`artifact` rows), were counted as criteria
    from phasegate.engine.model import events as ev
    from phasegate.engine.report.build import qa
    from phasegate.engine.report.facts import gather

    gates = [{"id": "g", "after": "p", "approval": "auto", "approvers": [], "quorum": 1}]
    criteria = [
        {"kind": "run", "spec": "true", "passed": True, "detail": ""},
        {"kind": "file", "spec": "x", "passed": True, "detail": ""},
        {"kind": "artifact", "spec": "dist/app.tar", "passed": True},
    ]
    events: list[ev.Event] = [
        ev.RunStarted(1.0, "r", "p", "p.yaml", [{"id": "p"}], [], [], gates=gates),
        ev.GateOpened(2.0, "g", 1, criteria, "h", "auto"),
        ev.GateClosed(2.1, "g", "passed", "criteria passed"),
    ]
    found = qa(gather("r", events), {"quality_compliance": 100.0})
    assert (found["criteria_passed"], found["criteria_total"]) == (2, 2)
