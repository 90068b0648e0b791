"""The dashboard and the run browser below 80x24 (60 columns, 40x12), and unchanged at 80x24
and 160x40. Regressions: at 60 columns the header cut what is left after a waiting gate (and at
40 the ETA), at 40x12 the task table showed no row at all (the panels took every line and the
screen scrolled, the header out of sight), and the run browser scrolled sideways at 60."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Footer

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.browser import BrowserScreen
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel
from phasegate.tui.dashboard.widgets.risks import RiskFeed
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import dashboard, gate_waiting, live_run, run_started, text

TASKS = [f"task-{i}" for i in range(8)]
LONG_PLAN = "a-really-long-plan-name-for-the-nightly-build"


async def _running(db: str, now: float) -> str:
    """A run of eight tasks with a long plan name, two of them running, an ETA of 1m30s."""
    events: list[ev.Event] = [
        run_started(now - 700, "a3b20133", TASKS, slots=2, plan="markup-plan-with-a-long-name"),
        ev.PhaseStarted(now - 700, "p"),
        ev.TaskStarted(now - 700, "task-0", 1, "m", 1, 1),
        ev.TaskFinished(now - 650, "task-0", 1, "succeeded", 0),
        ev.TaskStarted(now - 650, "task-1", 1, "m", 1, 1),
        ev.TaskStarted(now - 650, "task-2", 1, "m", 1, 1),
        ev.ForecastUpdated(now, 90.0, 0, {"p": 90.0}),
    ]
    return await live_run(db, "a3b20133", events)


def _task_lines(table: TaskTable) -> list[str]:
    """The task table's rows a user sees (each line that shows a task's id)."""
    return [line for line in text(table).splitlines() if "task-" in line]


async def test_at_40x12_the_table_shows_rows_and_the_header_the_status_and_times(
    tmp_path: Path,
) -> None:
    db, now = f"{tmp_path}/s.db", time.time()
    run_id = await _running(db, now)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(40, 12)) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        assert len(_task_lines(table)) >= 4, text(table)  # (none at all before)
        shown = text(table)
        heading = next(line for line in shown.splitlines() if "TASK" in line)
        assert "STATUS" in heading and "TIME" in heading, shown  # (no scrolling sideways)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert "running" in shown
        header = screen.query_one(RunHeader)
        assert header.region.y == 0  # (the screen scrolled: the header was out of sight)
        header.show(screen.feed.state, run_id, True, now)
        line = text(header)
        assert "running" in line and "11m40s" in line and "ETA 1m30s" in line, line


async def test_at_60_columns_the_header_keeps_a_waiting_gates_times(tmp_path: Path) -> None:
    db, now = f"{tmp_path}/g.db", time.time()
    run_id = await gate_waiting(db, "b469172a", LONG_PLAN, now)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(60, 24)) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # (the gate's prompt)
        screen = await dashboard(app, pilot)
        header = screen.query_one(RunHeader)
        header.show(screen.feed.state, run_id, True, now)
        line = text(header)
        # the gate, how long it waits, the run's time and what is left after the gate
        assert "gate manual-revi" in line and "waits 10m00s" in line, line
        assert "11m40s" in line and "then ~1m30s" in line, line  # (`then` was cut)


@pytest.mark.parametrize("size", [(80, 24), (160, 40)])
async def test_at_80x24_and_wider_every_panel_column_and_key_shows(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db, now = f"{tmp_path}/w.db", time.time()
    run_id = await _running(db, now)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=size) as pilot:
        screen = await dashboard(app, pilot)
        assert screen.query_one(PhasePanel).display and screen.query_one(RiskFeed).display
        assert screen.query_one(RiskFeed).region.height == 5
        table = screen.query_one(TaskTable)
        assert [c.key.value for c in table.columns.values()] == [
            "task",
            "phase",
            "agent",
            "status",
            "try",
            "time",
        ]
        assert len(_task_lines(table)) >= 7
        header = screen.query_one(RunHeader)
        header.show(screen.feed.state, run_id, True, now)
        line = text(header)
        assert "markup-plan" in line and "a3b20133" in line and "▶2 ✓1" in line, line

        def shown() -> str:
            return " ".join(
                text(key)
                for key in screen.query_one(Footer).query("FooterKey")
                if key.display and key.region.right <= size[0]
            )

        for _ in range(100):  # (the footer laid out again for the terminal's size: its new
            if "Help" in shown():  # keys render on a later turn of the loop)
                break
            await pilot.pause()
        keys = shown()
        for key in ("Help", "Find", "Logs", "Sort", "Gates", "Pause", "Detach", "Quit"):
            assert key in keys, keys


@pytest.fixture
async def runs_db(tmp_path: Path) -> str:
    """Three runs, one of a plan with a long name."""
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    try:
        for i, plan in enumerate(("demo", LONG_PLAN, "quick")):
            at = 1_700_000_000.0 + i
            await store.create_run(
                RunRow(f"r{i}", plan, f"{plan}.yaml", "succeeded", at, at, at + 5, user="ann")
            )
    finally:
        await store.close()
    return db


async def test_the_run_browser_fits_60_columns_without_scrolling_sideways(runs_db: str) -> None:
    app = PhasegateApp(runs_db)
    async with app.run_test(size=(60, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)
        table = app.screen.query_one(DataTable)
        assert table.virtual_size.width <= table.size.width  # (it scrolled sideways)
        shown = text(table)
        assert "a-really-lo" in shown and "…" in shown and LONG_PLAN not in shown, shown
        heading = shown.splitlines()[0].split()
        assert heading == ["RUN", "PLAN", "STATUS", "STARTED", "TOOK"], shown
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        heading = text(table).splitlines()[0].split()
        assert heading == ["RUN", "PLAN", "STATUS", "STARTED", "TOOK", "TASKS"]
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        assert LONG_PLAN in text(table)  # (whole, where there is room)
        assert table.virtual_size.width <= table.size.width
