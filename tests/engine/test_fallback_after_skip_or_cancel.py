"""A fallback stands in for a task that fails. When an operator skips the task, its dependents
go on and the fallback is not needed (it never "succeeded"); when an operator cancels the task,
its dependents are blocked (README: `cancel --task`) and the fallback does not run either."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.run.loop import Runner

from .helpers import ScriptedExecutor, command, run_plan

PLAN = """
name: fbo
agents: {a: {slots: 4}}
phases:
  - id: p1
    tasks:
      - {id: t, run: "sleep 5", agent: a, on_failure: {fallback: fb}}
      - {id: fb, run: "echo fb ran", agent: a}
      - {id: dep, run: "echo dep ran", agent: a, needs: [t]}
      - {id: u, run: "sleep 5", agent: a, on_failure: {fallback: fbu}}
      - {id: fbu, run: "echo fbu ran", agent: a}
      - {id: depu, run: "echo depu ran", agent: a, needs: [u]}
"""


async def _until(check: Callable[[], bool], deadline: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not check():
        assert loop.time() < end, "gave up waiting"
        await asyncio.sleep(0.01)


async def _operated(tmp_path: Path, kind: str, task: str) -> tuple[RunState, ScriptedExecutor]:
    """Run the plan; while `task` runs, an operator sends `kind` for it (its process then ends
    as a stopped one does)."""
    executor = ScriptedExecutor(hold={"t", "u"})
    runners: list[Runner] = []

    async def operator() -> None:
        await _until(lambda: {"t", "u"} <= set(executor.started))
        runner = runners[0]
        command(runner, kind, {"task": task, "reason": "operator's call"})
        await _until(lambda: runner.state.tasks[task].stopping != "")
        executor.release(task, -15)
        other = "u" if task == "t" else "t"
        executor.release(other, 0)

    helper = asyncio.ensure_future(operator())
    state, _ = await run_plan(tmp_path, PLAN, executor, on_runner=runners.append)
    await helper
    return state, executor


async def test_skipping_a_task_leaves_its_fallback_unneeded_and_lets_dependents_go_on(
    tmp_path: Path,
) -> None:
    state, executor = await _operated(tmp_path, "skip", "u")
    status = {t: s.status for t, s in state.tasks.items()}
    assert status["u"] is TaskStatus.SKIPPED
    assert status["fbu"] is TaskStatus.SKIPPED and "fbu" not in executor.started
    assert state.tasks["fbu"].reason == "not needed: 'u' was skipped"  # (not "succeeded")
    assert status["depu"] is TaskStatus.SUCCEEDED  # a skip lets the dependents go on
    assert state.status is RunStatus.SUCCEEDED


async def test_cancelling_a_task_blocks_its_dependents_and_its_fallback_does_not_run(
    tmp_path: Path,
) -> None:
    state, executor = await _operated(tmp_path, "cancel_task", "t")
    status = {t: s.status for t, s in state.tasks.items()}
    assert status["t"] is TaskStatus.CANCELLED
    assert status["fb"] is TaskStatus.SKIPPED and "fb" not in executor.started
    assert state.tasks["fb"].reason == "not run: 't' was cancelled, not failed"
    assert status["dep"] is TaskStatus.BLOCKED and "dep" not in executor.started
    assert state.tasks["dep"].reason == "needs 't', which was cancelled"
    assert state.status is RunStatus.FAILED  # as when a task without a fallback is cancelled
