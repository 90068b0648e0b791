"""Risk rules on a fake clock and their actions, machine pressure, monitors, history and the dry
run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply, project
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.plan.convert import parse
from phasegate.engine.plan.model import RiskSettings
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from phasegate.engine.watch.risks import changes, findings
from phasegate.engine.watch.simulate import simulate

from .helpers import command, operated, run_plan, until, write_plan

RULES = parse(RiskSettings, {})


def _run(tasks: list[dict[str, object]], timebox: float | None = None) -> RunState:
    return project(
        [
            ev.RunStarted(
                0.0,
                "r",
                "p",
                "p.yaml",
                [{"id": "p", "timebox": timebox}],
                tasks,
                [{"id": "a", "slots": 4}],
            ),
            ev.PhaseStarted(0.0, "p"),
        ]
    )


def test_a_task_running_past_its_estimate_raises_then_clears() -> None:
    state = _run([{"id": "t", "phase": "p", "estimate": 10.0, "needs": []}])
    apply(state, ev.TaskStarted(100.0, "t", 1, "a", 1, 1))
    assert findings(state, 105.0, {}, RULES) == []
    raised = changes(state, 111.0, findings(state, 111.0, {"t": 110.0}, RULES))
    assert [(e.key, e.severity) for e in raised] == [("overrun:t", "medium")]  # type: ignore[attr-defined]
    for e in raised:
        apply(state, e)
    assert changes(state, 112.0, findings(state, 112.0, {"t": 111.0}, RULES)) == []  # raised once
    late = findings(state, 125.0, {"t": 124.0}, RULES)
    assert late[0].severity == "high"  # past twice the estimate
    apply(state, ev.TaskFinished(126.0, "t", 1, "succeeded", 0))
    cleared = changes(state, 127.0, findings(state, 127.0, {}, RULES))
    assert [type(e).__name__ for e in cleared] == ["RiskCleared"]


def test_a_task_just_past_its_estimate_is_not_said_to_run_as_long_as_it() -> None:
    # ("running 1.0s, past its estimate of 1.0s": a tick past 1 s reads 1.0s)
    state = _run([{"id": "t", "phase": "p", "estimate": 1.0, "needs": []}])
    apply(state, ev.TaskStarted(100.0, "t", 1, "a", 1, 1))
    (late,) = findings(state, 101.04, {}, RULES)
    assert late.message == "running 1.04s, past its estimate of 1.0s"
    (later,) = findings(state, 101.5, {}, RULES)
    assert later.message == "running 1.5s, past its estimate of 1.0s"


def test_a_task_of_milliseconds_is_not_late_by_a_tick_s_jitter() -> None:
    # (a task whose earlier run took 0 ms raised a `high` overrun at 17 ms)
    state = _run([{"id": "t", "phase": "p", "estimate": 0.001, "needs": []}])
    apply(state, ev.TaskStarted(100.0, "t", 1, "a", 1, 1))
    assert findings(state, 100.017, {}, RULES) == []
    assert findings(state, 100.2, {}, RULES) == []
    late = findings(state, 100.3, {}, RULES)
    assert [f.key for f in late] == ["overrun:t"]


def test_a_retried_task_is_timed_from_its_newest_attempt() -> None:
    # (attempt 2, started after a backoff, raised an overrun at once: its first attempt's time)
    state = _run([{"id": "t", "phase": "p", "estimate": 10.0, "needs": []}])
    apply(state, ev.TaskStarted(100.0, "t", 1, "a", 1, 1))
    apply(state, ev.TaskFinished(108.0, "t", 1, "failed", 1))
    apply(state, ev.TaskStarted(120.0, "t", 2, "a", 2, 2))
    t = state.tasks["t"]
    assert (t.started_at, t.attempt_started_at) == (100.0, 120.0)
    assert findings(state, 125.0, {}, RULES) == []  # 5 s into attempt 2: no overrun
    assert [f.key for f in findings(state, 131.0, {"t": 130.0}, RULES)] == ["overrun:t"]
    apply(state, ev.TaskStarted(121.0, "t", 1, "a", 1, 1))  # a replayed older start
    assert state.tasks["t"].attempt_started_at == 120.0


def test_a_silent_task_and_a_phase_past_or_heading_past_its_timebox() -> None:
    state = _run(
        [
            {"id": "a", "phase": "p", "estimate": 50.0, "needs": []},
            {"id": "b", "phase": "p", "estimate": 500.0, "needs": []},
        ],
        timebox=300.0,
    )
    apply(state, ev.TaskStarted(0.0, "a", 1, "a", 1, 1))
    keys = {f.key for f in findings(state, 10.0, {"a": 1.0}, RULES)}
    assert keys == {"projected:p"}  # b's 500 s cannot fit a 300 s timebox
    keys = {f.key for f in findings(state, 200.0, {"a": 60.0}, RULES)}
    assert {"silent:a", "overrun:a", "projected:p"} <= keys
    assert "timebox:p" in {f.key for f in findings(state, 301.0, {"a": 300.0}, RULES)}


def test_an_agent_waiting_for_a_persons_answer_is_not_silent() -> None:
    state = _run([{"id": "a", "phase": "p", "needs": []}])
    apply(state, ev.TaskStarted(0.0, "a", 1, "a", 1, 1))
    apply(state, ev.PermissionAsked(5.0, "a-1-p1", "a", 1, "Bash", "make deploy"))
    assert "silent:a" not in {f.key for f in findings(state, 200.0, {"a": 5.0}, RULES)}
    apply(state, ev.PermissionAnswered(210.0, "a-1-p1", True, "alice", 1000))
    assert "silent:a" in {f.key for f in findings(state, 400.0, {"a": 5.0}, RULES)}


def test_retry_storm_and_failure_rate() -> None:
    tasks = [{"id": f"t{i}", "phase": "p", "needs": []} for i in range(5)]
    state = _run(tasks)
    for i in range(3):
        apply(state, ev.TaskStarted(1.0, f"t{i}", 2, "a", 1, 1))
        apply(state, ev.TaskFinished(2.0, f"t{i}", 2, "failed", 1))
    apply(state, ev.TaskStarted(1.0, "t3", 1, "a", 1, 1))
    apply(state, ev.TaskFinished(2.0, "t3", 1, "succeeded", 0))
    keys = {f.key for f in findings(state, 3.0, {}, RULES)}
    assert {"retries:p", "failures:p"} <= keys


def test_tasks_run_again_by_a_rewind_are_no_retry_storm() -> None:
    # (a gate's rewind or an amendment's restart runs tasks again: none of them failed)
    tasks = [{"id": f"t{i}", "phase": "p", "needs": []} for i in range(4)]
    state = _run(tasks)
    for i in range(4):
        apply(state, ev.TaskStarted(1.0, f"t{i}", 1, "a", 1, 1))
        apply(state, ev.TaskFinished(2.0, f"t{i}", 1, "succeeded", 0))
        apply(state, ev.TaskStarted(3.0, f"t{i}", 2, "a", 1, 1))
    assert "retries:p" not in {f.key for f in findings(state, 4.0, {}, RULES)}


def test_risks_are_cheap_for_ten_thousand_tasks() -> None:
    tasks = [{"id": f"t{i}", "phase": "p", "estimate": 1.0, "needs": []} for i in range(10_000)]
    state = _run(tasks, timebox=100.0)
    for i in range(50):
        apply(state, ev.TaskStarted(0.0, f"t{i}", 1, "a", 1, 1))
    found = findings(state, 5.0, {}, RULES)  # correctness here; the cost is in bench/
    assert len([f for f in found if f.rule == "task_overrun"]) == 50


def test_dry_run_matches_a_hand_computed_schedule(tmp_path: Path) -> None:
    from phasegate.engine.plan import load_plan

    plan = load_plan(
        str(
            write_plan(
                tmp_path,
                """
    name: dry
    agents: {a: {slots: 1}, b: {slots: 1}}
    phases:
      - id: one
        tasks:
          - {id: x, run: "true", agent: a, estimate: 4}
          - {id: y, run: "true", agent: a, estimate: 2}
          - {id: z, run: "true", agent: b, estimate: 1, needs: [y]}
      - id: two
        tasks: [{id: w, run: "true", agent: b, estimate: 3}]
    """,
            )
        )
    )
    s = simulate(plan)
    at = {x.task: (x.start, x.end) for x in s.slots}
    # a runs x (longest path first: x 4 s vs y+z 3 s) then y; z waits for y; w after the phase
    assert at == {"x": (0, 4), "y": (4, 6), "z": (6, 7), "w": (7, 10)}
    assert s.phases == [("one", 0, 7), ("two", 7, 10)]
    assert s.critical_path == ["x", "y", "z", "w"]
    assert [x.task for x in s.slots if x.waited > 0] == ["y"]


def test_machine_pressure_is_a_risk_past_its_threshold_with_evidence(tmp_path: Path) -> None:
    from phasegate.engine.plan.model import RiskSettings
    from phasegate.engine.watch.pressure import sample

    low = parse(RiskSettings, {"cpu": 0, "memory": 0.01, "disk": 0.01})
    found = {f.key: f for f in sample(low, str(tmp_path))}
    assert set(found) == {"pressure:memory", "pressure:disk"}  # cpu: 0 is off
    disk = found["pressure:disk"]
    assert disk.subject == "run" and disk.severity in ("high", "critical")
    assert disk.evidence["threshold_pct"] == 0.01 and 0 < disk.evidence["used_pct"] <= 100
    assert "slots" in disk.action
    off = parse(RiskSettings, {"cpu": 0, "memory": 0, "disk": 0})
    assert sample(off, str(tmp_path)) == []


def test_history_gives_median_and_p90() -> None:
    from phasegate.engine.watch.history import summarise

    learned = summarise([5.0, 1.0, 3.0, 2.0, 4.0, 100.0, 3.0, 3.0, 2.0, 4.0])
    assert learned.median == 3.0 and learned.p90 == 100.0 and learned.runs == 10
    assert summarise([7.0]) == summarise([7.0]) and summarise([7.0]).p90 == 7.0


def test_a_task_past_the_p90_of_its_earlier_runs_is_an_overrun() -> None:
    state = _run([{"id": "t", "phase": "p", "estimate": 10.0, "p90": 30.0, "needs": []}])
    apply(state, ev.TaskStarted(0.0, "t", 1, "a", 1, 1))
    assert findings(state, 20.0, {"t": 19.0}, RULES) == []  # past the median, not the p90
    (found,) = findings(state, 34.0, {"t": 33.0}, RULES)
    assert "past the p90 of its earlier successful runs (30.0s)" in found.message
    assert found.evidence == {"running_s": 34.0, "estimate_s": 10.0, "p90_s": 30.0}


async def test_a_second_run_estimates_from_the_first_and_records_its_forecasts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phasegate.engine.report.knowledge import learn
    from phasegate.engine.run import loop as runner_mod

    monkeypatch.setattr(runner_mod, "TICK", 0.02)
    text = """
    name: hist
    agents: {a: {}}
    phases:
      - id: p
        tasks:
          - {id: one, run: "sleep 0.4", estimate: 9}
          - {id: two, run: "true", needs: [one]}
    """
    store = MemoryStore()
    await run_plan(tmp_path, text, store=store)
    await learn(store, "run1", str(tmp_path / "r1"))
    state, _ = await run_plan(tmp_path, text, store=store, run_id="run2")
    one = state.tasks["one"]
    assert 0.35 < (one.estimate or 0) < 1.0 and one.p90 == one.estimate  # not the plan's 9 s
    forecasts = [e for _, e in await store.read_events("run2") if isinstance(e, ev.ForecastUpdated)]
    assert forecasts and forecasts[0].history == 2 and forecasts[0].eta < 1.0


async def test_monitors_raise_risks_when_out_of_bounds_or_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phasegate.engine.run import loop as runner_mod

    monkeypatch.setattr(runner_mod, "TICK", 0.02)
    text = """
    name: watched
    agents: {a: {}}
    monitors:
      - {id: hot, run: "echo temperature 95", every: 1, max: 90, severity: critical}
      - {id: down, run: "sh -c 'echo refused >&2; exit 7'", every: 1}
      - {id: fine, run: "echo 5", every: 1, min: 1, max: 10}
    phases:
      - id: p
        tasks: [{id: t, run: "sleep 0.6"}]
    """
    state, store = await run_plan(tmp_path, text, store=MemoryStore())
    events = [e for _, e in await store.read_events("run1") if isinstance(e, ev.RiskRaised)]
    # (the machine's own pressure risks may come and go: only the monitors' count here)
    raised = {e.key: e for e in events if e.key.startswith("monitor")}
    assert set(raised) == {"monitor:hot", "monitor:down"}
    hot, down = raised["monitor:hot"], raised["monitor:down"]
    assert hot.severity == "critical" and hot.message == "95, wanted <= 90"
    assert hot.evidence["value"] == 95.0 and hot.evidence["command"] == "echo temperature 95"
    assert down.severity == "high" and "refused" in down.message and down.evidence["exit"] == 7
    assert state.status is RunStatus.SUCCEEDED  # a monitor warns; it does not stop the run


def test_a_gate_waiting_past_the_runs_slack_is_a_risk() -> None:
    state = project(
        [
            ev.RunStarted(
                0.0,
                "r",
                "p",
                "p.yaml",
                [{"id": "one", "timebox": 60.0}, {"id": "two", "timebox": 100.0}],
                [
                    {"id": "a", "phase": "one", "estimate": 10.0, "needs": []},
                    {"id": "b", "phase": "two", "estimate": 40.0, "needs": []},
                    {"id": "c", "phase": "two", "estimate": 40.0, "needs": []},
                ],
                [{"id": "w", "slots": 2}],
                gates=[{"id": "qa", "after": "one"}],
            ),
            ev.PhaseStarted(0.0, "one"),
            ev.PhaseFinished(10.0, "one", "succeeded"),
            ev.GateOpened(10.0, "qa", 1, [], "h", "manual"),
        ]
    )
    # phase two: a 100 s timebox for 80 s of work on 2 slots (40 s): 60 s of slack
    assert findings(state, 69.0, {}, RULES) == []
    (late,) = findings(state, 71.0, {}, RULES)
    assert late.key == "gate_wait:qa" and late.severity == "high"
    assert "more than the run's slack (1m00s)" in late.message
    assert late.evidence == {"waited_s": 61.0, "slack_s": 60.0}
    loose = parse(RiskSettings, {"gate_wait": "30s"})
    no_timebox = project([*_events_without_timebox()])
    (waiting,) = findings(no_timebox, 41.0, {}, loose)
    assert waiting.severity == "medium" and "has waited 31.0s" in waiting.message


def _events_without_timebox() -> list[ev.Event]:
    return [
        ev.RunStarted(
            0.0,
            "r",
            "p",
            "p.yaml",
            [{"id": "one"}, {"id": "two"}],
            [{"id": "a", "phase": "one", "needs": []}, {"id": "b", "phase": "two", "needs": []}],
            [{"id": "w", "slots": 1}],
            gates=[{"id": "qa", "after": "one"}],
        ),
        ev.PhaseStarted(0.0, "one"),
        ev.PhaseFinished(10.0, "one", "succeeded"),
        ev.GateOpened(10.0, "qa", 1, [], "h", "manual"),
    ]


async def test_rules_act_pause_the_phase_and_reduce_slots_as_the_plan_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phasegate.engine.run import loop as runner_mod

    monkeypatch.setattr(runner_mod, "TICK", 0.02)
    text = """
    name: contingency
    agents: {a: {slots: 3}}
    risks:
      memory: 0.01
      cpu: 0  # (off: a busy machine's CPU must not reduce the slots a second time)
      actions: {task_overrun: pause, machine_pressure: reduce_slots}
    phases:
      - id: p
        tasks:
          - {id: slow, run: "sleep 0.4", estimate: 0.1}
          - {id: next, run: "true", needs: [slow]}
    """

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.phases["p"].held)
        await until(lambda: runner.state.tasks["slow"].status is TaskStatus.SUCCEEDED)
        assert runner.state.tasks["next"].status is not TaskStatus.RUNNING
        command(runner, "resume", {"phase": "p"})

    state, store = await operated(tmp_path, text, operator)
    assert state.status is RunStatus.SUCCEEDED and state.agents["a"].slots == 2
    events = [e for _, e in await store.read_events("run1")]
    paused = [e for e in events if isinstance(e, ev.RunPaused)]
    assert [(p.by, p.phase) for p in paused] == [("risk:task_overrun", "p")]
    assert "task slow: running" in paused[0].reason
    slots = [e for e in events if isinstance(e, ev.AgentSlotsChanged)]
    assert [(s.by, s.slots) for s in slots] == [("risk:machine_pressure", 2)]
    done = [(d.kind, d.by, d.ok) for d in events if isinstance(d, ev.CommandDone)]
    assert ("pause", "risk:task_overrun", True) in done


def test_a_silent_agents_risk_says_what_it_did_last() -> None:
    state = _run([{"id": "a", "phase": "p", "needs": []}])
    apply(state, ev.TaskStarted(0.0, "a", 1, "a", 1, 1))
    last = {"a": "→ Bash: npm test -- --watch"}
    (silent,) = [
        f for f in findings(state, 400.0, {"a": 5.0}, RULES, None, last) if f.rule == "silent_agent"
    ]
    assert silent.message.endswith("; its last line: → Bash: npm test -- --watch")
    (plain,) = [f for f in findings(state, 400.0, {"a": 5.0}, RULES) if f.rule == "silent_agent"]
    assert "last line" not in plain.message


def test_a_busy_cpu_names_its_top_consumer_and_is_critical_only_for_the_run() -> None:
    """Regression (issue 19): a busy 2-core machine raised a critical "CPU at 100%" on every
    run, caused by other processes."""
    from phasegate.engine.watch.pressure import Consumer, cpu_finding

    other = Consumer(4242, "stress-ng", 198.0, ours=False)
    idle_task = Consumer(5000, "sleep", 0.0, ours=True)
    busy_task = Consumer(5001, "pytest", 60.0, ours=True)
    others = cpu_finding(100.0, 95, [other, idle_task])
    assert others.severity == "medium"  # the run neither causes it nor is slowed
    assert "top: stress-ng (pid 4242, 198% of a core, not the run's)" in others.message
    assert others.evidence["top_ours"] is False and others.evidence["top_pid"] == 4242
    slowed = cpu_finding(100.0, 95, [other, busy_task])
    assert slowed.severity == "critical" and "slowed" in slowed.action
    assert "not the run's" in slowed.message
    ours = cpu_finding(100.0, 95, [Consumer(5001, "pytest", 199.0, ours=True), other])
    assert ours.severity == "critical" and "pytest (pid 5001" in ours.message
    assert "the run's)" in ours.message and "slots" in ours.action
    assert cpu_finding(96.0, 95, [busy_task]).severity == "high"


def test_the_cpu_sample_finds_the_runs_busy_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    from phasegate.engine.plan.model import RiskSettings
    from phasegate.engine.watch.pressure import consumers, sample

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        consumers()  # the baseline
        deadline = time.monotonic() + 10
        found: list[object] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            mine = [c for c in consumers() if c.pid == busy.pid]
            if mine and mine[0].cpu > 20:
                found = mine
                break
        assert found and found[0].ours  # (a child of this process, the "engine")
        rules = parse(RiskSettings, {"cpu": 0.01, "memory": 0, "disk": 0})
        # (each sample measures the CPU used since the one before: a sample taken at once after
        # another, where there are few processes to walk, has nothing to measure yet)
        cpu = sample(rules, str(tmp_path))
        while "top: " not in cpu[0].message and time.monotonic() < deadline:
            time.sleep(0.1)
            cpu = sample(rules, str(tmp_path))
        assert [f.key for f in cpu] == ["pressure:cpu"] and "top: " in cpu[0].message
    finally:
        busy.kill()
        busy.wait()


async def test_no_risk_stays_open_once_the_run_has_ended(tmp_path: Path) -> None:
    # the task runs past its estimate (raised on a tick), then ends before the next tick: the
    # run's end clears it (it stayed open for good, in `phasegate risks` and the reports)
    state, _ = await run_plan(
        tmp_path,
        """
        name: settle
        agents: {w: {}}
        phases:
          - id: p
            tasks:
              - {id: slow, run: "sleep 1.5", estimate: 0.2}
        """,
    )
    assert state.status is RunStatus.SUCCEEDED
    overrun = state.risks["overrun:slow"]  # (raised while it ran)
    assert not overrun.open and overrun.cleared_at is not None


async def test_the_machines_pressure_is_cleared_as_the_run_ends(tmp_path: Path) -> None:
    # (the disk is past a 0.01% threshold all along: the risk holds at the end, and stayed
    # open for good once the run had ended, in `phasegate risks` and the reports)
    state, _ = await run_plan(
        tmp_path,
        """
        name: pressure
        risks: {cpu: 0, memory: 0, disk: 0.01}
        agents: {w: {}}
        phases:
          - id: p
            tasks:
              - {id: slow, run: "sleep 1.5"}
        """,
    )
    assert state.status is RunStatus.SUCCEEDED
    disk = state.risks["pressure:disk"]  # (raised on the first tick, while the task ran)
    assert not disk.open and disk.cleared_at is not None
    assert disk.cleared_at >= (state.tasks["slow"].finished_at or 0.0)


async def test_a_risks_question_is_withdrawn_once_the_risk_is_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the gate waits past gate_wait: the rule asks (the run pauses with its question); the gate
    # is approved, so the risk no longer holds: its question goes and the run goes on
    from phasegate.engine.run import loop as runner_mod

    monkeypatch.setattr(runner_mod, "TICK", 0.02)
    text = """
    name: asked
    agents: {a: {}}
    risks: {gate_wait: 0.2s, actions: {gate_wait: ask}}
    phases:
      - id: p1
        tasks: [{id: t1, run: "true"}]
      - id: p2
        tasks: [{id: t2, run: "true"}]
    gates:
      - {id: g, after: p1}
    """

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.question.get("risk") == "gate_wait:g")
        assert runner.state.status is RunStatus.PAUSED
        command(runner, "approve", {"gate": "g"})
        try:  # (a question that outlived its risk held the run for good: end it, to fail)
            await asyncio.wait_for(until(lambda: runner.state.question == {}), 5.0)
        except TimeoutError:
            command(runner, "cancel", {"reason": "the question outlived its risk"})

    state, store = await operated(tmp_path, text, operator)
    assert state.question == {} and state.status is RunStatus.SUCCEEDED
    assert state.tasks["t2"].status is TaskStatus.SUCCEEDED
    events = [e for _, e in await store.read_events("run1")]
    resumed = [e for e in events if isinstance(e, ev.RunResumed)]
    assert [(r.by, r.phase) for r in resumed] == [("risk:gate_wait", "")]
    done = [d for d in events if isinstance(d, ev.CommandDone) and d.kind == "resume"]
    assert [(d.by, d.ok, d.command, d.uid) for d in done] == [("risk:gate_wait", True, 0, -1)]
    assert "gate_wait:g no longer holds" in done[0].message


async def test_reduce_slots_waits_for_a_serious_pressure_and_gives_the_slot_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a machine kept busy by other people's processes (a medium risk: nothing of
    the run's is slowed) took a slot from every agent, and the slots never came back."""
    from phasegate.engine.run import loop as runner_mod
    from phasegate.engine.run import monitoring
    from phasegate.engine.watch.pressure import Consumer, cpu_finding
    from phasegate.engine.watch.risks import Finding

    monkeypatch.setattr(runner_mod, "TICK", 0.02)
    monkeypatch.setattr(monitoring, "PRESSURE_EVERY", 2)  # (a sample every other tick)
    now: list[list[Finding]] = [[]]
    samples = [0]

    def sample(*_: object) -> list[Finding]:
        samples[0] += 1
        return now[0]

    monkeypatch.setattr(monitoring, "sample_pressure", sample)
    others = cpu_finding(100.0, 95, [Consumer(4242, "stress-ng", 198.0, ours=False)])
    slowed = cpu_finding(
        100.0,
        95,
        [Consumer(4242, "stress-ng", 150.0, ours=False), Consumer(5001, "make", 60.0, ours=True)],
    )
    assert (others.severity, slowed.severity) == ("medium", "critical")
    text = """
    name: pressed
    agents: {a: {slots: 3}, b: {slots: 1}}
    risks: {actions: {machine_pressure: reduce_slots}}
    phases:
      - id: p
        tasks:
          - {id: hold, agent: a, run: "sh -c 'while [ ! -e done ]; do sleep 0.02; done'"}
    """
    seen: dict[str, int] = {}

    async def ticks(n: int) -> None:
        start = samples[0]
        await within(lambda: samples[0] >= start + n)

    async def within(check: Callable[[], bool]) -> None:  # (a failure, not a hang, if never)
        await asyncio.wait_for(until(check), 10)

    async def operator(runner: Runner, store: MemoryStore) -> None:
        try:
            now[0] = [others]
            await within(lambda: "pressure:cpu" in runner.state.risks)
            await ticks(3)
            seen["medium"] = runner.state.agents["a"].slots  # told, nothing taken
            now[0] = [slowed]  # the run's own work is slowed now: one slot less
            await within(lambda: runner.state.agents["a"].slots == 2)
            await ticks(3)
            seen["once"] = runner.state.agents["a"].slots  # (once for the risk, not each tick)
            now[0] = []  # it no longer holds: the slot comes back
            await within(lambda: runner.state.agents["a"].slots == 3)
        finally:  # (the task ends: a failed step fails the test instead of hanging it)
            (tmp_path / "done").touch()

    state, store = await operated(tmp_path, text, operator)
    assert state.status is RunStatus.SUCCEEDED
    assert seen == {"medium": 3, "once": 2}
    assert state.agents["b"].slots == 1  # (an agent with one slot keeps it)
    events = [e for _, e in await store.read_events("run1")]
    slots = [(e.by, e.agent, e.slots) for e in events if isinstance(e, ev.AgentSlotsChanged)]
    assert slots == [("risk:machine_pressure", "a", 2), ("risk:machine_pressure", "a", 3)]
    done = [d.message for d in events if isinstance(d, ev.CommandDone) and d.kind == "slots"]
    assert len(done) == 1 and "risk pressure:cpu no longer holds, its slot given back" in done[0]
