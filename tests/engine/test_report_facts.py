"""The facts reports state, from a recorded release train with a manual gate, a `--var`, a kill -9
of the engine and a take-over (issue 19): each test names the wrong fact it keeps out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.engine.model import events as ev
from phasegate.engine.report import make
from phasegate.engine.report.diff import compare
from phasegate.engine.report.facts import INTERRUPTED, Facts
from phasegate.engine.report.facts import Attempt as FactsAttempt
from phasegate.engine.report.knowledge import learn
from phasegate.engine.report.measures import actual_critical_path
from phasegate.engine.store import MemoryStore
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
PLAN = """
name: train
vars: {version: "4.2.1"}
agents: {w: {slots: 2}}
phases:
  - id: build
    tasks:
      - id: fetch
        run: "true"
        estimate: 3.09414
        outputs: ["sqlite_utils-{version}/pyproject.toml"]
      - {id: venv, run: "true", needs: [fetch], estimate: 0.5}
      - {id: test, run: "true", needs: [venv], estimate: 10}
  - id: ship
    tasks:
      - {id: summary, run: "true", estimate: 0.2, outputs: ["out/release-{release}.tar"]}
gates:
  - {id: qa, after: build, approvers: [alice]}
"""
TASKS = [
    {"id": "fetch", "phase": "build", "agent": "w", "needs": [], "estimate": 3.09414},
    {"id": "venv", "phase": "build", "agent": "w", "needs": ["fetch"], "estimate": 0.5},
    {"id": "test", "phase": "build", "agent": "w", "needs": ["venv"], "estimate": 10.0},
    {"id": "summary", "phase": "ship", "agent": "w", "needs": [], "estimate": 0.2},
]


def _recording(run_id: str, t0: float) -> str:
    """fetch 0-10 s, venv 10-10.2 s; test starts at 10.2 s, the engine dies (last seen at 12 s)
    and is taken over at 100 s: test runs again, 100-110 s; the gate waits for alice until 400 s;
    summary 400-400.3 s."""
    rows: list[tuple[float, str, dict[str, Any]]] = [
        (0, "run.started", {
            "run_id": run_id, "plan_name": "train", "plan_path": "/plans/train.yaml",
            "phases": [{"id": "build", "title": "", "timebox": None},
                       {"id": "ship", "title": "", "timebox": None}],
            "tasks": TASKS, "agents": [{"id": "w", "slots": 2, "capabilities": []}],
            "gates": [{"id": "qa", "after": "build", "approval": "manual",
                       "approvers": ["alice"], "quorum": 1}],
        }),
        (0, "phase.started", {"phase": "build"}),
    ]  # fmt: skip

    def attempt(task: str, n: int, start: float, end: float | None) -> None:
        rows.append((start, "task.ready", {"task": task}))
        rows.append((start, "task.started", {
            "task": task, "attempt": n, "agent": "w", "pid": 100 + n, "pgid": 100 + n,
            "command": "", "proc_started": None}))  # fmt: skip
        if end is not None:
            rows.append((end, "task.finished", {
                "task": task, "attempt": n, "status": "succeeded", "exit_code": 0, "lines": 0,
                "dropped": 0, "reason": ""}))  # fmt: skip

    attempt("fetch", 1, 0, 10)
    attempt("venv", 1, 10, 10.2)
    attempt("test", 1, 10.2, None)
    rows.append((100, "run.recovered", {"by": "bob", "engine_pid": 42, "last_seen": t0 + 12,
        "tasks": [{"task": "test", "attempt": 1, "action": "rerun", "pids": [101]}]}))  # fmt: skip
    attempt("test", 2, 100, 110)
    rows += [
        (110, "phase.finished", {"phase": "build", "status": "succeeded"}),
        (110, "gate.opened", {"gate": "qa", "attempt": 1, "criteria": [], "evidence_hash": "x",
                              "approval": "manual"}),
        (400, "gate.voted", {"gate": "qa", "decision": "approve", "user": "alice", "uid": 1,
                             "host": "h", "tty": "", "ssh": "", "reason": "ok"}),
        (400, "gate.closed", {"gate": "qa", "outcome": "passed", "reason": ""}),
        (400, "phase.started", {"phase": "ship"}),
    ]  # fmt: skip
    attempt("summary", 1, 400, 400.3)
    rows += [
        (400.3, "phase.finished", {"phase": "ship", "status": "succeeded"}),
        (400.3, "run.finished", {"status": "succeeded", "reason": ""}),
    ]
    return "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": t0 + ts, "v": 1, "data": data})
        for i, (ts, name, data) in enumerate(rows)
    )


async def _store(*runs: str) -> MemoryStore:
    store = MemoryStore()
    for i, run_id in enumerate(runs):
        await load_run(store, parse_jsonl(_recording(run_id, T0 + 1000 * i), run_id))
        await store.save_plan(run_id, PLAN, {"release": "7"})
    return store


async def test_plan_variables_are_filled_in_the_hand_off_and_coordination_tables() -> None:
    """They printed `sqlite_utils-{version}/pyproject.toml` and `out/release-{release}.tar`."""
    store = await _store("one")
    report = await make.run_report(store, "one", ("coordination", "lessons"))
    outputs = {t["id"]: t["outputs"] for p in report["coordination"]["phases"] for t in p["tasks"]}
    assert outputs["fetch"] == ["sqlite_utils-4.2.1/pyproject.toml"]
    assert outputs["summary"] == ["out/release-7.tar"]
    delivered = {d["task"]: d["outputs"] for d in report["lessons"]["handoff"]["deliverables"]}
    assert delivered == {"fetch": outputs["fetch"], "summary": outputs["summary"]}
    for fmt in ("md", "html"):
        text = make.render(report, fmt)
        assert "{version}" not in text and "{release}" not in text
        assert "release-7.tar" in text


async def test_the_actual_critical_path_crosses_a_manual_gate_without_counting_its_wait() -> None:
    """It named only the last task (`summary`) for every run with a manual gate, so `diff`
    printed `critical path: summary => fetch -> venv -> test`."""
    store = await _store("one", "two")
    report = await make.run_report(store, "two", ("performance",))
    assert report["performance"]["critical_path"]["actual"] == ["fetch", "venv", "test", "summary"]
    d = compare(await make.facts_of(store, "one"), await make.facts_of(store, "two"))
    assert (
        d["critical_path"]["a"] == d["critical_path"]["b"] == ["fetch", "venv", "test", "summary"]
    )


async def test_a_rerun_after_a_take_over_is_no_flakiness_and_no_longer_duration(
    tmp_path: Any,
) -> None:
    """A re-run after kill -9 was recorded as flakiness ("succeeded after 2 attempts") and the
    time the engine was dead counted as the run's work, which raised later estimates."""
    store = await _store("one")
    report = await make.run_report(store, "one", ("performance", "lessons"))
    assert not [x for x in report["lessons"]["findings"] if x["kind"] == "flaky"]
    perf = report["performance"]
    test = next(t for t in perf["tasks"] if t["id"] == "test")
    assert test["duration"] == 10.0 and perf["retry_cost"] == 0.0
    build = next(p for p in perf["phases"] if p["id"] == "build")
    assert build["duration"] == 110.0 - (100.0 - 12.0)  # less the 88 s the engine was dead
    assert perf["engine_down"] == 88.0
    await learn(store, "one", str(tmp_path))
    assert (await store.durations("train"))["test"] == [10.0]


async def test_estimate_lessons_speak_durations_and_skip_sub_second_tasks() -> None:
    """They said "set its estimate near 0s" for a sub-second task and "against an estimate of
    3.09414s"."""
    store = await _store("one")
    findings = (await make.run_report(store, "one", ("lessons",)))["lessons"]["findings"]
    estimates = {x["subject"]: x for x in findings if x["kind"] == "estimate"}
    assert set(estimates) == {"fetch"}  # venv (0.2 s of 0.5) and summary: under a second
    fetch = estimates["fetch"]
    assert fetch["finding"] == "took 10.0s against an estimate of 3.1s (3.2x)"
    assert fetch["recommendation"] == "set its estimate near 10.0s"


async def test_risk_rules_read_as_key_value_text() -> None:
    """They printed as a Python dict (`actions={}`, `silent_after=120.0`)."""
    store = await _store("one")
    text = make.render(await make.run_report(store, "one", ("coordination",)), "md")
    rules = text.split("### Contingency and risk rules", 1)[1].split("###", 1)[0]
    assert "- silent\\_after: 2m00s" in rules and "- actions: none" in rules
    assert "{" not in rules and "=" not in rules


async def test_the_trend_holds_the_plans_earlier_runs_oldest_first() -> None:
    store = await _store("one", "two")
    trend = (await make.run_report(store, "two", ("performance",)))["trend"]
    assert [p["run"] for p in trend] == ["one", "two"]
    assert trend[0]["metrics"]["task_success_rate"] == 100.0


def _walked_critical_path(f: Facts) -> list[str]:
    """The critical path as it was first written: every task looked at at each step (slow on
    big runs, plainly right): what the faster lookup must agree with."""
    ends = {t: a.end for t, a in f.last.items() if a.end is not None and a.status != INTERRUPTED}
    starts = {t: f.last[t].start for t in ends}
    if not ends:
        return []
    rank = {p: i for i, p in enumerate(f.phase_order)}
    order = {t: i for i, t in enumerate(f.needs)}
    task = max(ends, key=lambda t: (ends[t], order.get(t, 0)))
    path, seen = [task], {task}
    while True:
        needs = set(f.needs.get(task, ()))
        mine = rank.get(f.phase_of.get(task, ""), 0)
        before = [
            t
            for t in ends
            if t not in seen
            and ends[t] <= starts[task] + 1e-6
            and (t in needs or rank.get(f.phase_of.get(t, ""), 0) < mine)
        ]
        if not before:
            break
        task = max(before, key=lambda t: (ends[t], t in needs, order.get(t, 0)))
        path.append(task)
        seen.add(task)
    return path[::-1]


@st.composite
def _ran(draw: st.DrawFn) -> Facts:
    """A run's attempts as the facts hold them: phases in order, tasks needing earlier ones,
    whole-second times so that ties (the hard part) are common, some attempts cut short."""
    f = Facts("r")
    f.phase_order = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    n = draw(st.integers(1, 14))
    for i in range(n):
        t = f"t{i}"
        f.phase_of[t] = draw(st.sampled_from(f.phase_order))
        earlier = [f"t{j}" for j in range(i)]
        f.needs[t] = tuple(draw(st.lists(st.sampled_from(earlier), max_size=3))) if earlier else ()
    planned = list(f.needs)
    # (tasks added by an amendment: not in the plan's list of needs, so of no order)
    for t in draw(st.lists(st.sampled_from(planned), max_size=len(planned), unique=True)):
        del f.needs[t]
    # (attempts start in another order than the plan's, which breaks ties)
    for t in draw(st.permutations(planned)):
        start = float(draw(st.integers(0, 8)))
        end = start + draw(st.integers(0, 4)) if draw(st.integers(0, 9)) else None
        status = draw(st.sampled_from(["succeeded", "failed", INTERRUPTED]))
        f.last[t] = FactsAttempt(t, 1, "w", start, end, status)
    return f


@given(_ran())
@settings(max_examples=400, deadline=None)
def test_the_critical_path_lookup_agrees_with_walking_every_task(f: Facts) -> None:
    """The report looks up each step's predecessor by end time instead of walking every task at
    every step (a 2,000-task run's report spent 20 ms there); the path must be the same."""
    assert actual_critical_path(f) == _walked_critical_path(f)


def test_an_exact_tie_goes_to_the_task_that_started_first_as_the_walk_found_it() -> None:
    """Two tasks of earlier phases ended at the same moment, neither in the plan's list (added
    by an amendment, so of no order): the walk took the one whose attempt came first, and the
    lookup must too (it took the other, from the phase it looked at last)."""
    f = Facts("r")
    f.phase_order = ["p0", "p1", "p2"]
    f.phase_of = {"x": "p1", "w": "p0", "y": "p0", "z": "p2"}
    f.needs = {"z": ()}
    for task, start, end in (("x", 0.0, 5.0), ("w", 0.0, 1.0), ("y", 1.0, 5.0), ("z", 6.0, 7.0)):
        f.last[task] = FactsAttempt(task, 1, "w", start, end, "succeeded")
    assert _walked_critical_path(f) == ["x", "z"]
    assert actual_critical_path(f) == ["x", "z"]


def test_the_metrics_of_a_run_under_way_are_of_what_it_has_done_so_far() -> None:
    """fetch succeeded (0-2 s); venv has run since 1 s; test and summary wait; a note at 5 s is
    the newest event. Nothing failed: success is 100% of the one task that ended (not 25% of
    four), and venv's 4 s so far are busy time: (2 + 4) s of 2 slots x 5 s = 60%."""
    from phasegate.engine.model import events as ev
    from phasegate.engine.report.facts import gather
    from phasegate.engine.report.measures import metrics

    events: list[ev.Event] = [
        ev.RunStarted(T0, "live", "train", "/plans/train.yaml", [{"id": "build"}], TASKS,
                      [{"id": "w", "slots": 2, "capabilities": []}]),
        ev.TaskStarted(T0, "fetch", 1, "w", 1, 1),
        ev.TaskStarted(T0 + 1, "venv", 1, "w", 2, 2),
        ev.TaskFinished(T0 + 2, "fetch", 1, "succeeded", 0),
        ev.RunNoted(T0 + 5, "still going", "alice"),
    ]  # fmt: skip
    scores = metrics(gather("live", events))
    assert scores["task_success_rate"] == 100.0
    assert scores["resource_efficiency"] == 60.0
    ended = metrics(gather("live", [*events, ev.RunFinished(T0 + 6, "cancelled")]))
    assert ended["task_success_rate"] == 25.0  # (once it has ended, every task counts)


def test_the_time_lost_to_failed_attempts_stops_at_one_that_did_not_fail() -> None:
    """What history keeps of a task's retries: each failed attempt's own time and the retry
    delay after it, back to the first attempt that did not fail (one before a rewind)."""
    f = Facts("r")
    for n, (start, end, status, delay) in enumerate(
        [
            (0.0, 2.0, "succeeded", None),
            (10.0, 12.0, "failed", 1.0),
            (13.0, 20.0, "timed_out", 2.0),
        ],
        1,
    ):
        f.add(ev.TaskStarted(start, "t", n, "a", 1, 1))
        f.add(ev.TaskFinished(end, "t", n, status, 0 if status == "succeeded" else 1))
        if delay is not None:
            f.add(ev.TaskRetrying(end, "t", n + 1, delay))
    assert f.retried("t") == 3.0  # the failed one before the newest: 2 s, then 1 s of delay
    f.add(ev.TaskStarted(22.0, "t", 4, "a", 1, 1))
    f.add(ev.TaskFinished(25.0, "t", 4, "succeeded", 0))
    assert f.retried("t") == 12.0  # 2 + 1, then 7 + 2
    assert f.retried("other") == 0.0


def test_the_time_lost_to_retries_is_not_the_engine_s_death_nor_an_interruption() -> None:
    """Attempt 1 fails (10 s), the engine dies an hour, attempt 2 is interrupted by the
    take-over, attempt 3 succeeds: 10 s and the 1 s delay were lost to the failure (it said
    3605 s from the first attempt's start, or nothing when the interruption stopped the count)."""
    f = Facts("r")
    f.add(ev.TaskStarted(0.0, "t", 1, "a", 1, 1))
    f.add(ev.TaskFinished(10.0, "t", 1, "failed", 1))
    f.add(ev.TaskRetrying(10.0, "t", 2, 1.0))
    f.add(ev.TaskStarted(11.0, "t", 2, "a", 1, 1))
    f.add(
        ev.RunRecovered(3611.0, "root", 1, 12.0, [{"task": "t", "attempt": 2, "action": "rerun"}])
    )
    f.add(ev.TaskStarted(3612.0, "t", 3, "a", 1, 1))
    f.add(ev.TaskFinished(3615.0, "t", 3, "succeeded", 0))
    assert f.retried("t") == 11.0


def test_an_attempt_that_ended_while_no_engine_ran_ends_when_it_ended() -> None:
    """The take-over writes its end (`ts`, 100) with the time its status file was written
    (`ended_at`, 60): its duration is 50 s, not 90 s of which 40 with no engine."""
    from phasegate.engine.model.fold import apply
    from phasegate.engine.model.state import RunState, TaskState

    state, f = RunState(), Facts("r")
    state.tasks["t"] = TaskState("t", "p")
    for e in (
        ev.TaskStarted(10.0, "t", 1, "a", 1, 1),
        ev.TaskFinished(100.0, "t", 1, "succeeded", 0, ended_at=60.0),
    ):
        apply(state, e)
        f.add(e)
    assert state.tasks["t"].finished_at == 60.0 and state.tasks["t"].duration == 50.0
    final = f.final("t")
    assert final is not None and final.duration == 50.0
    # stored only when it says something, and read back as it was
    adopted = ev.TaskFinished(100.0, "t", 1, "succeeded", 0, ended_at=60.0)
    name, version, data = adopted.record()
    assert ev.from_json(name, 100.0, version, data) == adopted
    assert "ended_at" not in ev.TaskFinished(1.0, "t", 1, "succeeded", 0).data()


def test_a_failure_before_a_gate_sent_the_phase_back_is_no_retry() -> None:
    """t failed for good in the first pass (on_failure: continue), the gate rejected, and t
    succeeded at once in the second: its 50 s failure was no retry's (nor a delay scheduled
    before an operator skipped it)."""
    f = Facts("r")
    f.add(
        ev.RunStarted(
            0.0,
            "r",
            "plan",
            "p.yaml",
            [{"id": "p"}],
            [{"id": "t", "phase": "p", "agent": "a", "needs": []}],
            [{"id": "a", "slots": 1}],
        )
    )
    f.add(ev.TaskStarted(0.0, "t", 1, "a", 1, 1))
    f.add(ev.TaskFinished(50.0, "t", 1, "failed", 1))
    f.add(ev.TaskRetrying(50.0, "t", 2, 60.0))
    f.add(ev.PhaseRewound(60.0, "p", "g", "rejected by alice"))
    f.add(ev.TaskStarted(61.0, "t", 2, "a", 1, 1))
    f.add(ev.TaskFinished(65.0, "t", 2, "succeeded", 0))
    assert f.retried("t") == 0.0
