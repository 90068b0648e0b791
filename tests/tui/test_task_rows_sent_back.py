"""A gate's rejection that rewinds the run (`on_reject: {rewind_to}`): the tasks of the phases
it sends back read `pending` in every dashboard at once, as `phasegate show` says them (they
kept `✓ succeeded` in the task table while the header counted them waiting)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.phases import PhasePanel
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, live_run, rows, text, until_shown


def _row(table: TaskTable, task: str) -> str:
    return next(" ".join(r) for r in rows(table) if task in r[0])


async def test_a_rewind_shows_the_tasks_sent_back_pending(tmp_path: Path) -> None:
    db, now = f"{tmp_path}/p.db", time.time()
    started = ev.RunStarted(
        now - 60,
        "rewound",
        "rewound-plan",
        "x.yaml",
        phases=[{"id": "build"}, {"id": "check"}],
        tasks=[
            {"id": "compile", "phase": "build", "agent": "w", "needs": []},
            {"id": "verify", "phase": "check", "agent": "w", "needs": []},
        ],
        agents=[{"id": "w", "slots": 1}],
        # (someone else's gate: this dashboard is told, and no prompt covers the table)
        gates=[
            {
                "id": "review",
                "after": "check",
                "approval": "manual",
                "quorum": 1,
                "approvers": ["somebody-else"],
            }
        ],
    )
    events: list[ev.Event] = [started]
    for i, (phase, task) in enumerate((("build", "compile"), ("check", "verify"))):
        at = now - 50 + 10 * i
        events += [
            ev.PhaseStarted(at, phase),
            ev.TaskStarted(at, task, 1, "w", 100 + i, 100 + i),
            ev.TaskFinished(at + 5, task, 1, "succeeded", 0),
            ev.PhaseFinished(at + 5, phase, "succeeded"),
        ]
    events.append(ev.GateOpened(now - 20, "review", 1, [], "ab" * 32, "manual"))
    run_id = await live_run(db, "rewound", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        await until_shown(pilot, "the run", lambda: "succeeded" in _row(table, "verify"))
        store = await SQLiteStore.open(db)
        try:
            why = "rejected by somebody-else: flaky"
            await store.write_batch(
                run_id,
                list(
                    enumerate(
                        [
                            ev.GateClosed(now, "review", "rejected", why),
                            ev.PhaseRewound(now, "build", "review", why),
                            ev.PhaseStarted(now, "build"),
                            ev.TaskStarted(now, "compile", 2, "w", 200, 200),
                        ],
                        len(events) + 1,
                    )
                ),
            )
        finally:
            await store.close()
        await until_shown(pilot, "the new attempt", lambda: "running" in _row(table, "compile"))
        assert screen.feed.state.tasks["verify"].status == "pending"  # (as `show` says)
        verify = _row(table, "verify")
        assert "pending" in verify and "succeeded" not in verify
        assert verify.split()[-1] == "-", verify  # (no time: its old attempt's grew on)
        panel = text(screen.query_one(PhasePanel))
        check = next(line for line in panel.splitlines() if " check " in line)
        assert "0/1" in check  # (the phase panel agrees: none of its tasks done)
        assert not re.search(r"\d s\b|\ds\b", check), check  # (nor its first pass's time)


async def test_a_take_over_shows_the_tasks_it_runs_again(tmp_path: Path) -> None:
    """A new engine took the run over: the task in flight it runs again reads `pending` (its
    row kept `running`), the agent's slot free."""
    from phasegate.tui.dashboard.feed import RunFeed

    db, now = f"{tmp_path}/p.db", time.time()
    started = ev.RunStarted(
        now - 60,
        "taken",
        "taken-plan",
        "x.yaml",
        phases=[{"id": "build"}],
        tasks=[{"id": "compile", "phase": "build", "agent": "w", "needs": []}],
        agents=[{"id": "w", "slots": 1}],
    )
    events = [started, ev.PhaseStarted(now - 50, "build")]
    events.append(ev.TaskStarted(now - 50, "compile", 1, "w", 100, 100))
    run_id = await live_run(db, "taken", events)
    store = await SQLiteStore.open(db)
    try:
        feed = RunFeed(store, run_id)
        await feed.drain()
        rerun = {"task": "compile", "attempt": 1, "action": "rerun", "pids": []}
        took = ev.RunRecovered(now, "someone", 4242, now - 10, [rerun])
        await store.write_batch(run_id, [(len(events) + 1, took)])
        changes = await feed.drain()
        assert feed.state.tasks["compile"].status == "pending"
        assert changes.tasks == {"compile"} and changes.agents
    finally:
        await store.close()
