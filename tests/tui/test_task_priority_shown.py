"""A task's priority, once changed (`+`/`-`, `phasegate priority`), shows beside its id in the
task table at 80x24 (`busy ↑2`, `build ↓1`: not `+2`, which the agents' roster says of two more
tasks), a long id giving way to it, and every column stays.

Regression: a changed priority showed nowhere but in `show --json`."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, live_run, rows, run_started, text, until_shown

LONG = "compile-the-whole-frontend-bundle"


async def test_a_changed_priority_shows_beside_the_task_s_id(tmp_path: Path) -> None:
    db, now = f"{tmp_path}/p.db", time.time()
    events: list[ev.Event] = [
        run_started(now - 60, "prio", ["busy", "later", LONG], agent="a", slots=1),
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 50, "busy", 1, "a", 1, 1),
        ev.TaskReprioritised(now - 40, LONG, -1, "ann"),
    ]
    run_id = await live_run(db, "prio", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        await until_shown(pilot, "the tasks", lambda: table.row_count == 3)
        assert [r[0] for r in rows(table)][:2] == ["busy", "later"]  # (0: no mark)
        store = await SQLiteStore.open(db)  # `phasegate priority prio busy 2`, as recorded
        try:
            await store.write_batch(
                run_id, [(len(events) + 1, ev.TaskReprioritised(now, "busy", 2, "ann"))]
            )
        finally:
            await store.close()
        await until_shown(pilot, "busy's priority", lambda: "busy ↑2" in text(table))
        shown = text(table)
        long_row = next(line for line in shown.splitlines() if "compile-" in line)
        assert "… ↓1" in long_row, long_row  # (the id gives way to it)
        heading = next(line for line in shown.splitlines() if "TASK" in line)
        for column in ("PHASE", "AGENT", "STATUS", "TRY", "TIME"):
            assert column in heading, heading
