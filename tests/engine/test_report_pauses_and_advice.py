"""Reports of paused runs and of risks (hunt-g): the time a run or its phase was paused (by a
person, a budget, a risk rule's pause, ask or timebox) was counted as queue wait, so the lessons
told to give a 1-slot agent more slots at 30% utilisation; and the lessons printed a risk's
effect ("the run is paused") or the operator's move then as its recommendation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phasegate.engine.report import make
from phasegate.engine.report.facts import gather
from phasegate.engine.report.lessons import lessons
from phasegate.engine.store import MemoryStore
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
PLAN = """
name: chain
agents: {w: {slots: 1}}
phases:
  - id: one
    tasks:
      - {id: a, run: sleep 1, agent: w}
      - {id: b, run: sleep 1, agent: w, needs: [a]}
"""
TASKS = [
    {"id": "a", "phase": "one", "agent": "w", "needs": []},
    {"id": "b", "phase": "one", "agent": "w", "needs": ["a"]},
]
Rows = list[tuple[float, str, dict[str, Any]]]


def _start(ts: float, task: str) -> Rows:
    started = {"task": task, "attempt": 1, "agent": "w", "pid": 9, "pgid": 9, "command": "x"}
    return [(ts, "task.started", {**started, "proc_started": None})]


def _end(ts: float, task: str) -> Rows:
    ended = {"task": task, "attempt": 1, "status": "succeeded", "exit_code": 0, "lines": 0}
    return [(ts, "task.finished", {**ended, "dropped": 0, "reason": ""})]


def _chain(pause: Rows, resume: Rows, b_ready: float = 1.0, b_start: float = 6.0) -> Rows:
    """a 0-1 s; `pause` while a runs, b ready when a ends, `resume`, b starts and ends."""
    return [
        (0, "run.started", {
            "run_id": "r1", "plan_name": "chain", "plan_path": "/plans/chain.yaml",
            "phases": [{"id": "one", "title": "", "timebox": None}], "tasks": TASKS,
            "agents": [{"id": "w", "slots": 1, "capabilities": []}], "gates": []}),
        (0, "phase.started", {"phase": "one"}),
        (0, "task.ready", {"task": "a"}),
        *_start(0, "a"),
        *pause,
        *_end(1, "a"),
        (b_ready, "task.ready", {"task": "b"}),
        *resume,
        *_start(b_start, "b"),
        *_end(b_start + 1, "b"),
        (b_start + 1, "phase.finished", {"phase": "one", "status": "succeeded"}),
        (b_start + 1, "run.finished", {"status": "succeeded", "reason": ""}),
    ]  # fmt: skip


async def _report(rows: Rows) -> dict[str, Any]:
    text = "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts, "v": 1, "data": data})
        for i, (ts, name, data) in enumerate(rows)
    )
    store = MemoryStore()
    await load_run(store, parse_jsonl(text, "r1"))
    await store.save_plan("r1", PLAN, {})
    return await make.run_report(store, "r1", ("performance", "lessons"))


PAUSES = {
    "paused by a person": (
        [(0.9, "run.paused", {"by": "root", "reason": ""})],
        [(6.0, "run.resumed", {"by": "root"})],
    ),
    "a budget that asks": (
        [(0.9, "run.paused", {"by": "budget", "reason": "spent", "ask": "budget:run"})],
        [(6.0, "run.resumed", {"by": "root"})],
    ),
    "its phase held by a timebox rule": (
        [(0.9, "run.paused", {"by": "risk:phase_timebox", "reason": "over", "phase": "one"})],
        [(6.0, "run.resumed", {"by": "root", "phase": "one"})],
    ),
}


@pytest.mark.parametrize("how", list(PAUSES))
async def test_a_pause_is_no_queue_wait_and_no_bottleneck(how: str) -> None:
    """`pause last`, 5 s, `resume last` on a 1-slot a -> b chain: the report said "queue wait
    4.8s" and the lessons "bottleneck | w | tasks waited ... give w more slots"."""
    pause, resume = PAUSES[how]
    report = await _report(_chain(pause, resume))
    perf = report["performance"]
    waits = {t["id"]: t["queue_wait"] for t in perf["tasks"]}
    assert waits == {"a": 0.0, "b": 0.0}
    assert perf["queue_wait"] == 0.0
    assert perf["paused"] == pytest.approx(5.1)  # (where the time went instead)
    assert [x for x in report["lessons"]["findings"] if x["kind"] == "bottleneck"] == []
    text = make.render(report, "md")
    assert "queue wait 0ms" in text and "paused 5.1s (not counted as queue wait)" in text
    assert "more slots" not in text


async def test_a_task_that_waited_for_a_slot_beside_a_pause_still_names_the_bottleneck() -> None:
    """b ready at 1 s while the run is paused 2-4 s and starts at 6 s: 3 s of real wait (the
    pause of another phase, and one that ended before b was ready, take nothing off)."""
    pause = [
        (0.1, "run.paused", {"by": "root", "reason": ""}),
        (0.2, "run.resumed", {"by": "root"}),
        (0.5, "run.paused", {"by": "root", "reason": "", "phase": "later"}),
    ]
    resume = [
        (2.0, "run.paused", {"by": "root", "reason": ""}),
        (3.0, "run.paused", {"by": "risk:failure_rate", "reason": "", "phase": "one"}),
        (4.0, "run.resumed", {"by": "root"}),
        (4.0, "run.resumed", {"by": "root", "phase": "one"}),
    ]
    report = await _report(_chain(pause, resume))
    waits = {t["id"]: t["queue_wait"] for t in report["performance"]["tasks"]}
    assert waits["b"] == pytest.approx(3.0)
    (bottleneck,) = [x for x in report["lessons"]["findings"] if x["kind"] == "bottleneck"]
    assert bottleneck["subject"] == "w" and "waited 3.0s" in bottleneck["finding"]


def _risk(rule: str, subject: str, severity: str, action: str, **evidence: Any) -> Rows:
    risk = {"key": f"{rule}:{subject}", "rule": rule, "severity": severity, "subject": subject}
    return [(0.5, "risk.raised", {**risk, "message": "m", "action": action, "evidence": evidence})]


# the risks each rule raises, with the action the engine gave it: (the effect, or the operator's
# move while the run went), and a word of the advice for the plan the lesson must give instead
RISKS = [
    (_risk("budget", "phase one", "high", "the run is paused"), "raise the budget of phase one"),
    (_risk("budget", "run", "high", "asks the operator"), "raise the budget of the run"),
    (_risk("budget", "task a", "high", "its tasks are stopped"), "raise the budget of task a"),
    (_risk("budget", "run", "medium", "", share=0.8), "raise its budget"),
    (_risk("budget", "run", "medium", "raise the budget, or skip the task"), "raise the budget"),
    (_risk("task_overrun", "task a", "high", "check its output (l); skip or cancel it if it hangs"),
     "estimate"),
    (_risk("silent_agent", "agent w", "medium", "check that it is not waiting for input; cancel "
           "it if it hangs", task="a"), "silent_after"),
    (_risk("phase_timebox", "phase one", "high", "re-prioritise or skip what can wait"),
     "timebox"),
    (_risk("phase_projected", "phase one", "medium", "add slots, re-prioritise, or skip what "
           "can wait"), "timebox"),
    (_risk("retry_storm", "phase one", "medium", "look for a shared cause"), "cause"),
    (_risk("failure_rate", "phase one", "high", "pause the phase (p) and look at the failures"),
     "on_failure"),
    (_risk("gate_wait", "gate qa", "high", "decide it (g in the dashboard, or phasegate "
           "approve/reject)"), "approvers"),
    (_risk("machine_pressure", "run", "high", "reduce the agents' slots (phasegate slots)",
           resource="cpu", top_ours=True), "fewer slots"),
    (_risk("machine_pressure", "run", "medium", "nothing of the run's is slowed; free the "
           "machine if it lasts", resource="cpu", top_ours=False), "threshold"),
    (_risk("machine_pressure", "run", "high", "reduce the agents' slots (phasegate slots), or "
           "free the machine", resource="memory"), "memory"),
    (_risk("monitor", "monitor m", "high", "look at what `df` checks; the run goes on"),
     "min/max"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raised", "advice"), RISKS, ids=[f"{r[0][2]['key']}-{r[0][2]['severity']}" for r, _ in RISKS]
)
def test_a_risk_lesson_recommends_a_change_never_the_effect(raised: Rows, advice: str) -> None:
    """A spent budget's lesson said "the run is paused", "asks the operator", "its tasks are
    stopped"; others said what to press while the run went (`(l)`, `(p)`, `g in the
    dashboard`), or "the run goes on"."""
    rows = _chain([], [], b_start=1.0)
    rows[3:3] = raised
    text = "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts, "v": 1, "data": data})
        for i, (ts, name, data) in enumerate(rows)
    )
    f = gather("r1", [e for _, e in parse_jsonl(text).events])
    (finding,) = [x for x in lessons(f, [], {})["findings"] if x["kind"] == "risk"]
    said = finding["recommendation"]
    assert said != raised[0][2]["action"] and advice in said
    for effect in (
        "is paused",
        "asks the operator",
        "are stopped",
        "goes on",
        "(l)",
        "(p)",
        "g in",
    ):
        assert effect not in said


def test_a_risk_said_again_while_open_is_one_lesson_at_its_worst() -> None:
    # regression: each re-raise of an open risk (a figure doubled, a severity changed) was a
    # lessons row of its own; one cleared and raised later is another risk
    from phasegate.engine.model import events as ev
    from phasegate.engine.report.facts import Facts

    f = Facts()
    said = [
        ev.RiskRaised(1.0, "k", "task_overrun", "medium", "task t", "running 2.0s"),
        ev.RiskRaised(2.0, "k", "task_overrun", "high", "task t", "running 4.0s"),
        ev.RiskRaised(3.0, "k", "task_overrun", "medium", "task t", "running 8.0s"),
        ev.RiskCleared(4.0, "k", "it ended"),
        ev.RiskRaised(5.0, "k", "task_overrun", "medium", "task t", "running 2.5s"),
    ]
    for e in said:
        f.add(e)
    assert [(r.severity, r.message) for r in f.risks] == [
        ("high", "running 4.0s"),
        ("medium", "running 2.5s"),
    ]
