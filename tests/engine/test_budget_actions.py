"""What a spent budget does, on a fake clock: a `pause` budget pauses the run once and a resume
goes on past it (audited), a finished phase's budget no longer acts, `seconds` counts the wall
time of the attempts (not the retries' backoff between them), a `stop` budget is judged as of
the moment a task would start (it is never spawned), and the risks say what a person can do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.exec.base import Exit, ProcSpec
from phasegate.engine.model import events as ev
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from tests.engine.helpers import FakeHandle, ScriptedExecutor, command, run_plan, until

Clock = list[float]


async def _run(
    tmp_path: Path,
    plan: str,
    executor: ScriptedExecutor,
    operate: Callable[[Runner, Clock], object],
) -> tuple[RunState, list[ev.Event]]:
    """Run `plan` on a clock that moves only when the test moves it, while `operate` steers."""
    now: Clock = [1000.0]
    runners: list[Runner] = []

    def made(runner: Runner) -> None:
        runner._clock = lambda: now[0]
        runners.append(runner)

    failed: list[BaseException] = []

    async def go() -> None:
        await until(lambda: bool(runners) and bool(runners[0].state.run_id))
        try:
            await operate(runners[0], now)  # type: ignore[misc]
        except Exception as exc:  # (a failed check ends the run at once, not at the timeout)
            failed.append(exc)
            runners[0].cancel("the test failed")
            for task in list(executor._held):
                executor.release(task, -15)

    helper = asyncio.ensure_future(go())
    store = MemoryStore()
    try:
        state, _ = await asyncio.wait_for(
            run_plan(tmp_path, plan, executor, store, on_runner=made), 60
        )
    finally:
        helper.cancel()
    if failed:
        raise failed[0]
    return state, [e for _, e in await store.read_events("run1")]


async def _ticks(runner: Runner, n: int = 2) -> None:
    """Until the engine has checked its budgets `n` more times (it does once a second)."""
    seen = runner._ticks
    await until(lambda: runner._ticks >= seen + n)


PAUSE = """
name: budget-pause
agents: {w: {slots: 1}}
phases:
  - id: build
    budget: {seconds: 2, action: pause}
    tasks:
      - {id: a, run: "true", agent: w}
      - {id: b, run: "true", agent: w, needs: [a]}
      - {id: c, run: "true", agent: w, needs: [b]}
  - id: ship
    tasks:
      - {id: d, run: "true", agent: w}
"""


@pytest.mark.slow  # (it waits for the engine's ticks, a second each)
async def test_a_pause_budget_pauses_once_and_a_resume_goes_on_past_it(tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold={"a", "b", "c", "d"})

    async def operate(runner: Runner, now: Clock) -> None:
        await until(lambda: "a" in executor.running)
        now[0] += 3.0
        await until(lambda: runner.state.status is RunStatus.PAUSED)
        assert "error" not in command(runner, "resume", {})
        assert runner.state.status is RunStatus.RUNNING
        executor.release("a")
        for task in ("b", "c"):  # the run goes on: the budget acted once
            await until(lambda t=task: t in executor.running)  # type: ignore[misc]
            now[0] += 1.0
            await _ticks(runner)
            assert runner.state.status is RunStatus.RUNNING
            executor.release(task)
        await until(lambda: "d" in executor.running)
        now[0] += 1.0
        await _ticks(runner)
        assert runner.state.status is RunStatus.RUNNING  # (a later phase is not paused by it)
        executor.release("d")

    state, events = await _run(tmp_path, PAUSE, executor, operate)
    assert state.status is RunStatus.SUCCEEDED
    assert [e.by for e in events if isinstance(e, ev.RunPaused)] == ["budget"]
    # (the machine's own pressure risks may come and go on a busy machine: only the budget's here)
    said = [e.severity for e in events if isinstance(e, ev.RiskRaised) and e.rule == "budget"]
    assert said == ["high"]  # (once: the lessons list it once)
    rows = [(e.kind, e.by) for e in events if isinstance(e, ev.CommandDone)]
    assert rows == [("pause", "budget"), ("resume", state.user), ("acknowledge", "budget")]
    ack = next(e for e in events if isinstance(e, ev.CommandDone) and e.kind == "acknowledge")
    assert ack.target == "phase build" and "does not pause the run again" in ack.message


ONE = """
name: budget-said
agents: {w: {slots: 1}}
phases:
  - id: build
    budget: {seconds: 2, action: pause}
    tasks: [{id: a, run: "true", agent: w}]
"""


@pytest.mark.slow  # (it waits for the engine's ticks, a second each)
async def test_a_budgets_risks_say_what_a_person_can_do_with_the_real_figures(
    tmp_path: Path,
) -> None:
    executor = ScriptedExecutor(hold={"a"})

    async def operate(runner: Runner, now: Clock) -> None:
        await until(lambda: "a" in executor.running)
        now[0] += 1.7  # 85%: a warning, with what to do
        await until(lambda: "budget:phase build" in runner.state.risks)
        warning = runner.state.risks["budget:phase build"]
        assert warning.severity == "medium" and warning.action
        assert "85% of its budget" in warning.message
        now[0] += 0.34  # 2.04s of 2s: spent, and said so (not "2.0s of 2.0s")
        await until(lambda: runner.state.status is RunStatus.PAUSED)
        risk = runner.state.risks["budget:phase build"]
        assert risk.severity == "high" and "2.04s of 2.0s spent" in risk.message
        assert f"phasegate resume {runner.state.run_id}" in risk.action
        assert "error" not in command(runner, "resume", {})
        executor.release("a")

    state, _ = await _run(tmp_path, ONE, executor, operate)
    assert state.status is RunStatus.SUCCEEDED


ENDED = """
name: budget-ended
agents: {w: {slots: 1}}
phases:
  - id: build
    budget: {seconds: 2, action: pause}
    tasks: [{id: a, run: "true", agent: w}]
  - id: ship
    tasks: [{id: d, run: "true", agent: w}]
"""


@pytest.mark.slow  # (it waits for the engine's ticks, a second each)
async def test_a_finished_phases_budget_does_not_pause_a_later_phase(tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold={"a", "d"})

    async def operate(runner: Runner, now: Clock) -> None:
        await until(lambda: "a" in executor.running)
        now[0] += 3.0
        executor.release("a")  # (ends before the engine's next check: the phase is done)
        await until(lambda: "d" in executor.running)
        await _ticks(runner)
        assert runner.state.status is RunStatus.RUNNING
        executor.release("d")

    state, events = await _run(tmp_path, ENDED, executor, operate)
    assert state.status is RunStatus.SUCCEEDED
    assert [e for e in events if isinstance(e, ev.RunPaused)] == []


class Timed(ScriptedExecutor):
    """Each attempt of `flaky` takes a second of the fake clock; then 10 s pass before its
    retry (the backoff)."""

    def __init__(self, now: Clock) -> None:
        super().__init__(codes={"flaky": [1, 1, 1, 1]})
        self.now = now

    def start(
        self,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> FakeHandle:
        def timed(result: Exit) -> None:
            self.now[0] += 1.0
            on_exit(result)
            self.now[0] += 10.0

        return super().start(spec, on_line, timed)


RETRIES = """
name: budget-task
agents: {w: {slots: 2}}
phases:
  - id: one
    tasks:
      - id: flaky
        run: "false"
        agent: w
        retries: 3
        backoff: 0.01
        budget: {seconds: 2.5, action: stop}
"""


async def test_a_seconds_budget_counts_its_attempts_not_the_backoff_between(
    tmp_path: Path,
) -> None:
    now: Clock = [1000.0]
    executor = Timed(now)

    def made(runner: Runner) -> None:
        runner._clock = lambda: now[0]

    state, _ = await asyncio.wait_for(run_plan(tmp_path, RETRIES, executor, on_runner=made), 60)
    # attempts of 1 s each: the third makes 3 s of 2.5 s, so the fourth is never spawned
    # (the 30 s of backoff between them are not its attempts' time)
    assert executor.started == ["flaky", "flaky", "flaky"]
    flaky = state.tasks["flaky"]
    assert flaky.status is TaskStatus.FAILED and flaky.attempts == 4
    assert flaky.reason.startswith("the budget of task flaky is spent (3.0s of 2.5s spent)")


STOP = """
name: budget-stop
kill_grace: 1s
agents: {w: {slots: 2}}
budget: {seconds: 5, action: stop}
phases:
  - id: build
    tasks:
      - {id: a, run: "true", agent: w}
      - {id: b, run: "true", agent: w}
      - {id: c, run: "true", agent: w, needs: [a]}
"""


async def test_a_spent_stop_budget_never_spawns_the_next_task(tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold={"a", "b"})

    async def operate(runner: Runner, now: Clock) -> None:
        await until(lambda: {"a", "b"} <= executor.running)
        now[0] += 3.0  # a and b: 6 s of 5 s, before the engine's next check
        executor.release("a")  # c would start now
        await until(lambda: runner.state.tasks["b"].stopping != "")
        executor.release("b", -15)

    state, _ = await _run(tmp_path, STOP, executor, operate)
    assert "c" not in executor.started
    c = state.tasks["c"]
    assert c.status is TaskStatus.FAILED
    assert c.reason.startswith("the budget of run is spent (6.0s of 5.0s spent)")
    assert state.tasks["b"].status is TaskStatus.CANCELLED
    risk = state.risks["budget:run"]
    assert risk.severity == "high" and risk.action  # (what a person can do)
    assert "its tasks are stopped" not in risk.action


async def test_a_stop_budget_of_wall_time_does_not_count_every_task_at_every_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: judging a `stop` budget of seconds at each start counted the time of every
    # task of its scope: a run of N tasks did N^2 work (4,000 tasks: 26 s against 4 s)
    from phasegate.engine.run.budgets import Budgets

    counts: list[str] = []
    used = Budgets._used

    def counted(self: Budgets, scope: str) -> tuple[float, float, float, float]:
        counts.append(scope)
        return used(self, scope)

    monkeypatch.setattr(Budgets, "_used", counted)
    tasks = "\n".join(f'      - {{id: t{i}, run: "true"}}' for i in range(300))
    state, _ = await run_plan(
        tmp_path,
        f"""
name: many
budget: {{seconds: 100000, action: stop}}
agents: {{a: {{slots: 8}}}}
phases:
  - id: p
    tasks:
{tasks}
""",
        executor=ScriptedExecutor({}),
    )
    assert state.status is RunStatus.SUCCEEDED
    assert len(counts) < 30, len(counts)  # (the first start, then about once a tick)
