"""Who did what, in the engine's audit rows: the run's start carries its starter's uid, and a
spent budget extended by resuming the run carries the uid, host and tty of whoever resumed it
(the dashboard's question and `phasegate resume` send the same command through the socket)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.statuses import RunStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from tests.engine.helpers import ScriptedExecutor, run_plan, until

ASK = """
name: ask
agents: {w: {slots: 1}}
budget: {seconds: 1s, action: ask}
phases:
  - id: p
    tasks:
      - {id: slow, run: "true", agent: w}
"""


async def test_a_budget_extended_by_a_resume_names_who_resumed_it(tmp_path: Path) -> None:
    # regression: the budget.extended row had the resumer's name only (no uid, host or tty),
    # whether the resume came from the dashboard's question or from `phasegate resume`
    now = [1000.0]
    executor = ScriptedExecutor(hold={"slow"})
    runners: list[Runner] = []
    answers: list[dict[str, object]] = []
    where = ("laptop", "/dev/pts/9", "10.0.0.1 5 10.0.0.2 22")  # (host, tty, ssh)

    def made(runner: Runner) -> None:
        runner._clock = lambda: now[0]
        runners.append(runner)

    async def operate() -> None:
        await until(lambda: bool(runners) and "slow" in executor.running)
        runner = runners[0]
        now[0] += 5.0  # (the wall-time budget is spent: the next tick asks)
        await until(lambda: runner.state.question.get("risk") == "budget:run")
        resumer = Identity(runner.state.user, 4242, *where)  # (the starter: it may operate)
        answers.append(runner.submit("resume", {}, resumer))
        executor.release("slow")

    helper = asyncio.ensure_future(operate())
    store = MemoryStore()
    try:
        state, _ = await asyncio.wait_for(
            run_plan(tmp_path, ASK, executor, store, on_runner=made), 30
        )
    finally:
        helper.cancel()
    assert state.status is RunStatus.SUCCEEDED and "error" not in answers[0]
    events = [e for _, e in await store.read_events("run1")]
    extended = [e for e in events if isinstance(e, ev.BudgetExtended)]
    assert len(extended) == 1
    found = extended[0]
    assert (found.by, found.uid, (found.host, found.tty, found.ssh)) == (state.user, 4242, where)
    # the run's start names its starter by uid too (the engine's own OS user)
    started = events[0]
    assert isinstance(started, ev.RunStarted) and started.uid == os.geteuid()


def test_events_recorded_before_the_identity_was_kept_still_read() -> None:
    # (no schema change: the fields are new with defaults, so old rows decode as "not known")
    old_start = {
        "run_id": "r",
        "plan_name": "p",
        "plan_path": "p.yaml",
        "phases": [],
        "tasks": [],
        "agents": [],
        "user": "ann",
        "host": "vm",
    }
    started = ev.from_record("run.started", 1.0, 2, old_start)
    assert isinstance(started, ev.RunStarted) and (started.user, started.uid) == ("ann", -1)
    old_budget = {"scope": "run", "by": "ann", "seconds": 2.0}
    extended = ev.from_record("budget.extended", 2.0, 1, old_budget)
    assert isinstance(extended, ev.BudgetExtended)
    assert (extended.by, extended.uid, extended.host) == ("ann", -1, "")
