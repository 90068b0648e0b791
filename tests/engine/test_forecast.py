"""The forecast: the work left simulated on the agents' slots, from where a run stands, against
hand-computed schedules and against synthetic history."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply
from phasegate.engine.plan.dag import build
from phasegate.engine.store import MemoryStore
from phasegate.engine.watch.forecast import forecast, seconds_left
from phasegate.engine.watch.history import learned
from phasegate.engine.watch.simulate import simulate

from .forecasting import CHAIN, GATED
from .forecasting import plan_of as _plan
from .forecasting import started as _started


def test_the_critical_path_bounds_the_eta_and_a_running_task_counts_what_is_left(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path, CHAIN)
    graph = build(plan)
    state = _started(plan)
    assert forecast(plan, graph, state, 0.0).eta == 15.0  # a then b; c beside a
    apply(state, ev.TaskStarted(100.0, "a", 1, "a", 1, 1))
    apply(state, ev.TaskStarted(100.0, "c", 1, "a", 2, 2))
    f = forecast(plan, graph, state, 104.0)
    assert f.eta == 11.0 and f.phases == {"p": 11.0}  # 6 s of a left, then b
    # on time, near its estimate: what is left of it (not a quarter of what it has run, which
    # forecast a task on time late as it neared its end), a second at least
    assert forecast(plan, graph, state, 108.5).eta == 6.5  # 1.5 s of a left, then b
    assert forecast(plan, graph, state, 109.5).eta == 6.0  # 1 s at least, then b
    # a task past its estimate is expected to run on for a quarter of what it has run, not
    # to have ended, nor to end any moment: the forecast grows while it overruns
    assert forecast(plan, graph, state, 130.0).eta == 12.5  # 7.5 s more of a, then b
    assert forecast(plan, graph, state, 180.0).eta == 25.0  # 20 s more of a, then b


def test_the_work_is_spread_over_the_slots_the_agents_have_now(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
        name: wide
        agents:
          a: {slots: 2, capabilities: [x]}
          b: {slots: 1, capabilities: [x]}
        phases:
          - id: p
            tasks: [TASKS]
        """.replace(
            "TASKS",
            ", ".join(f'{{id: t{i}, run: "true", capability: x, estimate: 4}}' for i in range(6)),
        ),
    )
    graph = build(plan)
    state = _started(plan)
    assert forecast(plan, graph, state, 0.0).eta == 8.0  # 6 tasks of 4 s over 3 slots
    apply(state, ev.AgentSlotsChanged(0.0, "a", 5, "op"))
    assert forecast(plan, graph, state, 0.0).eta == 4.0  # 6 slots now
    apply(state, ev.AgentProbed(0.0, "a", False, "not ready"))
    assert forecast(plan, graph, state, 0.0).eta == 24.0  # only b's one slot takes them


def test_phases_run_in_order_and_each_has_its_end(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
        name: phases
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
    graph = build(plan)
    state = _started(plan)
    # the same schedule as the dry run's hand-computed one (test_risks_control)
    f = forecast(plan, graph, state, 0.0)
    assert f.phases == {"one": 7.0, "two": 10.0} and f.eta == 10.0
    for event in (
        ev.TaskStarted(0.0, "x", 1, "a", 1, 1),
        ev.TaskFinished(4.0, "x", 1, "succeeded", 0),
        ev.TaskStarted(4.0, "y", 1, "a", 2, 2),
        ev.TaskFinished(6.0, "y", 1, "succeeded", 0),
        ev.TaskStarted(6.0, "z", 1, "b", 3, 3),
        ev.TaskFinished(7.0, "z", 1, "succeeded", 0),
        ev.PhaseFinished(7.0, "one", "succeeded"),
    ):
        apply(state, event)
    f = forecast(plan, graph, state, 7.0)
    assert f.phases == {"two": 3.0} and f.eta == 3.0  # an ended phase is not forecast


def test_a_manual_gate_is_expected_to_wait_as_long_as_it_did_before(tmp_path: Path) -> None:
    plan = _plan(tmp_path, GATED)
    graph = build(plan)
    state = _started(plan)
    assert forecast(plan, graph, state, 0.0).eta == 15.0  # no history: the wait is not counted
    f = forecast(plan, graph, state, 0.0, gate_waits={"review": 60.0})
    assert f.phases == {"build": 10.0, "ship": 75.0} and f.eta == 75.0
    for event in (
        ev.TaskStarted(0.0, "x", 1, "a", 1, 1),
        ev.TaskFinished(10.0, "x", 1, "succeeded", 0),
        ev.PhaseFinished(10.0, "build", "succeeded"),
        ev.GateOpened(10.0, "review", 1, [], "h", "manual"),
    ):
        apply(state, event)
    # open for 20 s of its usual 60: 40 s more, then ship's 5 s
    assert forecast(plan, graph, state, 30.0, gate_waits={"review": 60.0}).eta == 45.0
    # waiting longer than usual: any moment now
    assert forecast(plan, graph, state, 200.0, gate_waits={"review": 60.0}).eta == 5.0


def test_the_dry_run_counts_a_gates_wait_from_history(tmp_path: Path) -> None:
    from phasegate.engine.watch.history import Learned
    from phasegate.tui.cli.dryrun import render

    plan = _plan(tmp_path, GATED)
    without = render(plan, as_json=False, width=80)
    assert "dry run of gated: 15.0s" in without
    assert "waits for approval (no earlier run: not counted)" in without
    learned = {"gate:review": Learned(60.0, 90.0, 3)}
    shown = render(plan, as_json=False, width=80, learned=learned)
    assert "dry run of gated: 1m15s" in shown
    assert "gate review: waits ~1m00s for approval (median of 3 earlier runs; counted)" in shown
    assert "critical path (*): x -> y" in shown


def test_the_dry_run_takes_each_task_s_median_from_history_over_its_estimate(
    tmp_path: Path,
) -> None:
    """The learned medians stand in for the plan's estimates (given to the simulation, no
    longer copied into a new plan): a task without an estimate gets one, and a longer median
    moves the critical path."""
    from phasegate.engine.watch.history import Learned
    from phasegate.engine.watch.simulate import projected

    plan = _plan(tmp_path, CHAIN)
    before = projected(plan, {})
    assert before.total == 15.0 and before.critical_path == ["a", "b"]
    after = projected(plan, {"c": Learned(40.0, 50.0, 3), "gate:x": Learned(9.0, 9.0, 1)})
    assert after.total == 40.0 and after.critical_path == ["c"]
    assert {s.task: (s.end - s.start) for s in after.slots} == {"a": 10.0, "b": 5.0, "c": 40.0}
    assert plan.phases[0].tasks[2].estimate == 1  # (the plan itself is unchanged)


def test_recorded_forecasts_count_down_in_front_ends(tmp_path: Path) -> None:
    state = _started(_plan(tmp_path, CHAIN))
    assert seconds_left(state, 0.0) is None  # nothing forecast yet
    apply(state, ev.ForecastUpdated(10.0, 15.0, 0, {"p": 15.0}))
    assert seconds_left(state, 14.0) == 11.0
    assert seconds_left(state, 14.0, "p") == 11.0
    assert seconds_left(state, 99.0) == 0.0  # late: no negative ETA
    apply(state, ev.RunFinished(30.0, "succeeded"))
    assert seconds_left(state, 31.0) is None


@pytest.mark.asyncio
async def test_history_makes_the_forecast_accurate_where_the_plans_estimates_are_not(
    tmp_path: Path,
) -> None:
    """Synthetic history: tasks really take `actual` seconds (the plan guesses 4 s for each);
    five earlier runs recorded each duration with +-10 % noise. The forecast from history is
    within 10 % of the run's real end at the start and half-way; the plan's guesses are not."""
    rng = random.Random(7)
    ids = [f"t{i}" for i in range(16)]
    actual = {t: float(rng.choice([1, 2, 3, 20, 30])) for t in ids}
    lines = "".join(
        f'      - {{id: {t}, run: "true", capability: x, estimate: 4'
        + (f", needs: [t{i - 4}]" if i >= 4 else "")
        + "}\n"
        for i, t in enumerate(ids)
    )
    text = f"""
name: synth
agents: {{a: {{slots: 2, capabilities: [x]}}, b: {{slots: 1, capabilities: [x]}}}}
phases:
  - id: build
    tasks:
{lines}"""
    plan = _plan(tmp_path, text)
    graph = build(plan)
    store = MemoryStore()
    for run in range(5):
        noisy = {t: s * rng.uniform(0.9, 1.1) for t, s in actual.items()}
        await store.record_durations("synth", f"old{run}", float(run), noisy)
    medians = {t: found.median for t, found in (await learned(store, "synth")).items()}

    # the run as it really goes: the dry run with the real durations
    phase = plan.phases[0]
    tasks = [t.replace(estimate=actual[t.id]) for t in phase.tasks]
    real = simulate(plan.replace(phases=[phase.replace(tasks=tasks)]))
    end = real.total

    def error(at: float, estimates: dict[str, float] | None) -> float:
        state = _started(plan, estimates)
        for slot in sorted(real.slots, key=lambda s: s.start):
            if slot.start <= at:
                apply(state, ev.TaskStarted(slot.start, slot.task, 1, slot.agent, 1, 1))
            if slot.end <= at:
                apply(state, ev.TaskFinished(slot.end, slot.task, 1, "succeeded", 0))
        predicted = at + forecast(plan, graph, state, at).eta
        return abs(predicted - end) / end

    assert error(0.0, medians) < 0.1
    assert error(end / 2, medians) < 0.1
    assert error(0.0, None) > 0.25  # the plan's flat 4 s guesses


def test_fallbacks_standing_by_are_not_scheduled(tmp_path: Path) -> None:
    from phasegate.tui.cli.dryrun import render

    plan = _plan(
        tmp_path,
        """
        name: standby
        agents: {a: {slots: 1}}
        risks: {actions: {retry_storm: {fallback: rescue}}}
        phases:
          - id: p
            tasks:
              - {id: x, run: "true", estimate: 10, on_failure: {fallback: plan-b}}
              - {id: plan-b, run: "true", estimate: 30}
              - {id: rescue, run: "true", estimate: 30}
        """,
    )
    shown = render(plan, as_json=False, width=80)
    assert "dry run of standby: 10.0s" in shown
    assert "standing by (run only if needed, not counted): plan-b, rescue" in shown
    graph = build(plan)
    state = _started(plan)
    assert forecast(plan, graph, state, 0.0, standby={"plan-b", "rescue"}).eta == 10.0
    assert forecast(plan, graph, state, 0.0, standby={"plan-b"}).eta == 40.0  # rescue called


def test_the_phase_cache_never_changes_a_forecast(tmp_path: Path) -> None:
    """The runner keeps the length of each phase not started yet between forecasts; whatever
    moves (tasks ending, slots, readiness, priorities, fallbacks called), a forecast from the
    cache is the one computed from scratch."""
    rng = random.Random(3)
    lines = []
    for k in range(3):
        tasks = ", ".join(
            f'{{id: p{k}t{i}, run: "true", capability: x, estimate: {rng.choice([1, 2, 5, 9])}'
            + (f", needs: [p{k}t{i - 1}]" if i % 3 else "")
            + "}"
            for i in range(9)
        )
        lines.append(f"  - id: p{k}\n    tasks: [{tasks}]\n")
    plan = _plan(
        tmp_path,
        "name: cached\nagents: {a: {slots: 2, capabilities: [x]}, b: {capabilities: [x]}}\n"
        "phases:\n" + "".join(lines),
    )
    graph = build(plan)
    state = _started(plan)
    cache: dict[tuple[object, ...], float] = {}

    def same(now: float, standby: set[str] | None = None) -> None:
        cached = forecast(plan, graph, state, now, standby=standby, cache=cache)
        assert cached == forecast(plan, graph, state, now, standby=standby)

    same(0.0)
    same(0.0)  # from the cache this time
    apply(state, ev.TaskStarted(0.0, "p0t0", 1, "a", 1, 1))
    same(3.0)
    apply(state, ev.AgentSlotsChanged(3.0, "a", 1, "op"))
    same(3.0)
    apply(state, ev.TaskReprioritised(3.0, "p2t4", 5, "op"))
    same(3.0)
    apply(state, ev.AgentProbed(3.0, "b", False, "gone"))
    same(3.0)
    same(3.0, standby={"p1t2"})
    for i in range(9):
        apply(state, ev.TaskFinished(10.0, f"p0t{i}", 1, "succeeded", 0))
    apply(state, ev.PhaseFinished(10.0, "p0", "succeeded"))
    apply(state, ev.TaskStarted(10.0, "p1t0", 1, "a", 2, 2))
    same(11.0)
    assert cache  # it was used


PRIORITIES = """
name: prio
agents: {a: {slots: 2}}
phases:
  - id: first
    tasks: [{id: warmup, run: "true", agent: a, estimate: 1}]
  - id: work
    tasks:
      - {id: x, run: "true", agent: a, estimate: 10, priority: 5}
      - {id: y, run: "true", agent: a, estimate: 10, priority: 5}
      - {id: h, run: "true", agent: a, estimate: 1}
      - {id: t, run: "true", agent: a, estimate: 10, needs: [h]}
"""


def test_a_priority_set_back_to_zero_leaves_the_plans_order(tmp_path: Path) -> None:
    """x and y first (priority 5) make `work` last 21 s (h and t wait for them); set back to 0,
    the longest path goes first and `work` lasts 20 s. The forecast follows the live priorities,
    and a cached length of `work` (a phase not started yet) is not reused across the change."""
    plan = _plan(tmp_path, PRIORITIES)
    graph = build(plan)
    state = _started(plan)
    cache: dict[tuple[object, ...], float] = {}
    before = forecast(plan, graph, state, 0.0, cache=cache)
    assert before.phases["work"] == 1.0 + 21.0
    for task in ("x", "y"):
        apply(state, ev.TaskReprioritised(0.0, task, 0, "op"))
    after = forecast(plan, graph, state, 0.0, cache=cache)
    assert after.phases["work"] == 1.0 + 20.0
    assert after == forecast(plan, graph, state, 0.0)  # the same without the cache


def test_an_amendment_s_impact_uses_the_new_plan_s_estimates(tmp_path: Path) -> None:
    # (the run's own estimates stood in for the new plan's: +0s for a change of +29 s)
    from phasegate.engine.watch.impact import impact

    plan = _plan(tmp_path, CHAIN)
    state = _started(plan)
    apply(state, ev.TaskStarted(100.0, "a", 1, "a", 1, 1))
    longer_b = _plan(tmp_path, CHAIN.replace("estimate: 5", "estimate: 34"))
    found = impact(plan, longer_b, state, 104.0)
    assert found["before"]["eta"] == 11.0 and found["after"]["eta"] == 40.0  # 6 s of a, then b
    # a running task's new estimate counts against what it has run (4 s of a's 10 -> 20)
    longer_a = _plan(tmp_path, CHAIN.replace("estimate: 10", "estimate: 20"))
    assert impact(plan, longer_a, state, 104.0)["after"]["eta"] == 21.0
    # a running task restarted runs its whole (new) estimate again
    assert impact(plan, plan, state, 104.0, restart=["a"])["after"]["eta"] == 15.0


def test_a_forecast_that_holds_is_not_counted_down(tmp_path: Path) -> None:
    plan = _plan(tmp_path, CHAIN)
    state = _started(plan)
    apply(state, ev.ForecastUpdated(100.0, 15.0, 0, {"p": 15.0}))
    assert seconds_left(state, 104.0) == 11.0  # the clock goes
    apply(state, ev.ForecastUpdated(104.0, 11.0, 0, {"p": 11.0}, still=True))
    assert seconds_left(state, 160.0) == 11.0 and seconds_left(state, 160.0, "p") == 11.0
    apply(state, ev.ForecastUpdated(170.0, 11.0, 0, {"p": 11.0}))  # it moves again
    assert seconds_left(state, 172.0) == 9.0


async def test_no_forecast_is_recorded_while_only_the_clock_moves(tmp_path: Path) -> None:
    # (a waiting gate recorded the same forecast every second: 86,400 rows a day)
    from .helpers import command, operated, until

    text = """
    name: gated
    agents: {w: {}}
    phases:
      - {id: one, tasks: [{id: a, run: "true"}]}
      - {id: two, tasks: [{id: b, run: "true"}]}
    gates: [{id: review, after: one}]
    """

    async def approver(runner: Any, store: MemoryStore) -> None:
        await until(lambda: runner.state.gates["review"].status == "open")
        ticks = runner._ticks
        await until(lambda: runner._ticks >= ticks + 4)  # (four ticks of the run's second)
        command(runner, "approve", {"gate": "review"})

    state, store = await operated(tmp_path, text, approver)
    assert state.status.value == "succeeded"
    events = [e for _, e in await store.read_events("run1")]
    opened = next(i for i, e in enumerate(events) if isinstance(e, ev.GateOpened))
    closed = next(i for i, e in enumerate(events) if isinstance(e, ev.GateClosed))
    during = [e for e in events[opened:closed] if isinstance(e, ev.ForecastUpdated)]
    assert len(during) <= 2, during  # (the gate's open, and then: the time left holds)
    if during:
        assert during[-1].still


async def test_a_held_phase_s_forecast_holds_and_a_running_task_s_counts_down(
    tmp_path: Path,
) -> None:
    # (a review found a held phase's ETA counting down to 0 once the engine stopped
    # recording a forecast a second)
    from .helpers import command, operated, until

    text = """
    name: held
    agents: {w: {}}
    phases:
      - {id: one, tasks: [{id: a, run: "sleep 0.5"}]}
      - {id: two, tasks: [{id: b, run: "true", estimate: 60}]}
    """
    seen: list[float | None] = []

    async def holder(runner: Any, store: MemoryStore) -> None:
        command(runner, "pause", {"phase": "two"})
        await until(lambda: runner.state.phases["two"].status.value == "running")
        ticks = runner._ticks
        await until(lambda: runner._ticks >= ticks + 3)
        later = runner.state.forecast["at"] + 30.0
        seen.append(seconds_left(runner.state, later, "two"))
        command(runner, "resume", {"phase": "two"})

    state, store = await operated(tmp_path, text, holder)
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert state.status.value == "succeeded", done
    assert seen == [60.0], done  # held: 30 s later still 60 s left, not 30


def test_the_dry_run_breaks_a_long_critical_path_between_names(tmp_path: Path) -> None:
    """At 80 columns the terminal cut `deploy-staging` in two at its edge."""
    from phasegate.tui.cli.dryrun import render

    ids = [f"step-number-{i}-of-the-chain" for i in range(5)]
    tasks = ", ".join(
        f"{{id: {t}, run: 'true', estimate: 1{', needs: [' + ids[i - 1] + ']' if i else ''}}}"
        for i, t in enumerate(ids)
    )
    plan = _plan(
        tmp_path, f"name: long\nagents: {{a: {{}}}}\nphases: [{{id: p, tasks: [{tasks}]}}]\n"
    )
    shown = render(plan, as_json=False, width=60).splitlines()
    at = next(i for i, line in enumerate(shown) if line.startswith("critical path (*): "))
    path = [line for line in shown[at:] if not line.startswith(("slot", "estimates"))]
    assert len(path) > 1 and all(len(line) <= 60 for line in path), path
    assert " ".join(" ".join(path).split()).removeprefix("critical path (*): ") == " -> ".join(ids)


def test_the_dry_run_lists_a_phase_of_no_tasks_and_its_gate(tmp_path: Path) -> None:
    # (it validates, and runs as a phase of no length: the dry run left it out, its gate too)
    from phasegate.tui.cli.dryrun import render

    plan = _plan(
        tmp_path,
        """
        name: hollow
        agents: {w: {}}
        phases:
          - {id: first, tasks: [{id: t, run: "true", estimate: 2}]}
          - {id: empty, tasks: []}
          - {id: last, tasks: [{id: u, run: "true", estimate: 1}]}
        gates: [{id: check, after: empty, approval: auto, criteria: [{run: "true"}]}]
        """,
    )
    shown = render(plan, as_json=False, width=80).splitlines()
    at = shown.index("phase empty  2.0s → 2.0s  (0ms)")
    assert shown[at + 1] == "   ◆ gate check: passes on its criteria"
    assert shown[at + 2].startswith("phase last  2.0s → 3.0s")


def test_the_dry_run_says_where_it_cuts_a_long_id(tmp_path: Path) -> None:
    # regression: ids cut to their column with no mark: two with a long common start read alike
    from phasegate.tui.cli.dryrun import render

    long = "t" + "x" * 30
    plan = _plan(
        tmp_path,
        f"""
        name: cut
        agents: {{w: {{slots: 1}}}}
        phases:
          - id: p
            tasks:
              - {{id: {long}a, run: "true", estimate: 2}}
              - {{id: short, run: "true", estimate: 1}}
        """,
    )
    shown = render(plan, as_json=False, width=80)
    rows = [line for line in shown.splitlines() if line.startswith("  ") and "█" in line]
    assert any("…" in row for row in rows) and any("*short " in row for row in rows), shown


def test_a_gate_opened_again_expects_what_is_left_of_its_usual_wait() -> None:
    """History learns a gate's wait per run, every opening together (rejected, then opened
    again: 600 s + 600 s). The forecast took only the current opening's time off it: 600 s
    into the second opening it still expected 600 s more, the first opening counted twice."""

    from phasegate.engine.model.state import GateState, RunState
    from phasegate.engine.watch.forecast import waits

    state = RunState(gates={"review": GateState("review", "build")})
    for event in (
        ev.GateOpened(0.0, "review", 1, [], "h1", "manual"),
        ev.GateClosed(600.0, "review", "rejected", "not yet"),
        ev.PhaseRewound(600.0, "build", "review", "not yet"),
        ev.GateOpened(700.0, "review", 2, [], "h2", "manual"),
    ):
        apply(state, event)
    assert waits(state, {"review": 1200.0}, now=1000.0) == {"build": 300.0}
    assert waits(state, {"review": 1200.0}, now=1300.0) == {"build": 0.0}
