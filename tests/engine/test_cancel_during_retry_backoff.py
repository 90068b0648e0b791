"""A task that failed and waits for its retry (its backoff) is cancelled, by `cancel --task`
or with the whole run: only the pending retry is dropped. The attempt that failed stays as it
ended (failed, its exit code, its time), in the fold and in what `logs` prints; the task says
it was cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.run.loop import Runner
from phasegate.tui.cli.views import attempt_endings

from .helpers import ScriptedExecutor, command, run_plan

PLAN = """
name: cb
agents: {a: {slots: 2}}
phases:
  - id: p1
    tasks:
      - {id: f, run: "echo boom; exit 3", agent: a, retries: 2, backoff: 60}
"""


async def _until(check: Callable[[], bool], deadline: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not check():
        assert loop.time() < end, "gave up waiting"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("how", ["cancel_task", "cancel"])
async def test_cancel_in_backoff_keeps_the_failed_attempt(tmp_path: Path, how: str) -> None:
    executor = ScriptedExecutor(codes={"f": [3, 3, 3]})
    runners: list[Runner] = []

    async def operator() -> None:
        def failed_once() -> bool:
            f = runners[0].state.tasks.get("f") if runners else None
            return f is not None and f.failures == 1

        await _until(failed_once)
        runner = runners[0]
        assert runner.state.tasks["f"].status is TaskStatus.READY  # (its backoff: 60 s)
        args = {"task": "f", "reason": "no more"} if how == "cancel_task" else {"reason": "no more"}
        answer = command(runner, how, args)
        assert "error" not in answer and answer.get("ok") is not False, answer

    helper = asyncio.ensure_future(operator())
    state, store = await run_plan(tmp_path, PLAN, executor, on_runner=runners.append)
    await helper
    events = [e for _, e in await store.read_events("run1")]
    ends = [e for e in events if isinstance(e, ev.TaskFinished) and e.task == "f"]
    first = [e for e in ends if e.attempt == 1]
    assert len(first) == 1 and first[0].status == "failed" and first[0].exit_code == 3
    assert executor.started == ["f"]  # (the retry never ran)
    f = state.tasks["f"]
    assert f.status is TaskStatus.CANCELLED and f.reason == "no more"
    assert f.attempts == 1 and f.exit_code == 3
    assert f.finished_at == first[0].end  # (its time is its attempt's, not the wait's)
    # `logs f` marks attempt 1 as it ended
    assert attempt_endings(events)[("f", 1)] == "failed: exited with code 3"
    assert state.status is (RunStatus.CANCELLED if how == "cancel" else RunStatus.FAILED)
