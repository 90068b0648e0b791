"""The task filter on a big run (3,000 tasks) costs what changes: a longer filter takes rows out
and builds none, a shorter one builds only the rows it adds back (in their place in the sort),
a live update of a filtered table only the rows of the tasks that changed; the cursor stays on
its task while it matches; keys typed faster than every 0.1 s are applied together, the text
typed last always.

Regression: each key typed in the filter laid the whole table out again, every row built and
measured anew (~150 ms a key at 3,000 tasks, 0.4-1.2 s at 10,000: typing lagged), and so did a
live update where more than 50 tasks came into or out of a filtered table."""

from __future__ import annotations

import time
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input

from phasegate.engine.model import events as ev
from phasegate.engine.model.state import PhaseState, RunState, TaskState, TaskStatus
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, live_run, run_started, until_shown

KINDS = ("build", "bundle", "test", "lint", "deploy")


class _Tasks(App[None]):
    def compose(self) -> ComposeResult:
        yield TaskTable()


def _big(n: int = 3000) -> RunState:
    """`build-00000`, `bundle-00001`, `test-00002`, ...: a fifth of them each."""
    state = RunState()
    state.phases["make"] = PhaseState("make")
    for i in range(n):
        tid = f"{KINDS[i % len(KINDS)]}-{i:05d}"
        state.tasks[tid] = TaskState(tid, "make", agent="worker", status=TaskStatus.SUCCEEDED)
    return state


def _counting(table: TaskTable) -> list[str]:
    """The tasks whose rows the table builds from now on, in a list."""
    built: list[str] = []
    row = table._row

    def counted(t: TaskState, now: float) -> list[object]:
        built.append(t.id)
        return row(t, now)  # type: ignore[return-value]

    table._row = counted  # type: ignore[assignment, method-assign]
    return built


def _ids(table: TaskTable) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def _matching(state: RunState, *needles: str) -> list[str]:
    return [tid for tid in state.tasks if any(n in tid for n in needles)]  # (the plan's order)


async def test_typing_a_filter_builds_only_the_rows_it_adds_and_keeps_the_cursor() -> None:
    state = _big()
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        table.focus()
        table.move_cursor(row=500)
        await pilot.pause()
        assert table.selected == "build-00500"
        built = _counting(table)
        # typed on: rows only go (none built), the cursor on its task
        for text in ("b", "bu", "bui", "buil", "build"):
            table.set_filter(text, state)
            await pilot.pause()
            want = _matching(state, text)
            assert _ids(table) == want, text
            assert table.selected == "build-00500", text
            assert f"filter: {text}" in str(table.border_title)
        assert built == []
        assert table.row_count == 600
        # a letter taken back: the bundles come back, each in its place, and only they are built
        table.set_filter("bu", state)
        await pilot.pause()
        assert _ids(table) == _matching(state, "build", "bundle")
        assert sorted(built) == _matching(state, "bundle")
        assert table.selected == "build-00500"
        # a filter its task does not match: the first task matching
        built.clear()
        table.set_filter("deploy", state)
        await pilot.pause()
        assert _ids(table) == _matching(state, "deploy") and built == _matching(state, "deploy")
        assert table.selected == "deploy-00004"
        # cleared: every task, in the plan's order, only the rows missing built
        built.clear()
        table.set_filter("", state)
        await pilot.pause()
        assert _ids(table) == list(state.tasks)
        assert sorted(built) == sorted(set(state.tasks) - set(_matching(state, "deploy")))
        assert table.selected == "deploy-00004"
        assert "filter" not in str(table.border_title)


async def test_a_live_update_of_a_filtered_table_adds_the_tasks_now_matching_in_place() -> None:
    state = _big()
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        for tid in list(state.tasks)[::100]:  # 30 failed
            state.tasks[tid].status = TaskStatus.FAILED
        table.refresh_tasks(state, list(state.tasks)[::100], now=1.0)
        table.set_filter("failed", state)
        table.cycle_sort(state)  # by status (failed ones first: the same order)
        await pilot.pause()
        assert _ids(table) == list(state.tasks)[::100]
        table.move_cursor(row=10)
        chosen = table.selected
        built = _counting(table)
        # 200 more fail, 1 of those shown succeeds on a retry
        ids = list(state.tasks)
        more = [tid for tid in ids[7::13] if state.tasks[tid].status.value != "failed"][:200]
        for tid in more:
            state.tasks[tid].status = TaskStatus.FAILED
        state.tasks[ids[0]].status = TaskStatus.SUCCEEDED
        table.refresh_tasks(state, [*more, ids[0]], now=2.0)
        await pilot.pause()
        failed = [tid for tid, t in state.tasks.items() if t.status.value == "failed"]
        assert _ids(table) == failed  # (among the failed, the plan's order)
        assert sorted(built) == sorted(more)  # (the task that left: no row to build)
        assert table.selected == chosen
        assert "failed" in str(table.get_row(more[0])[3])


async def test_keys_typed_fast_are_applied_together_and_the_last_always() -> None:
    state = _big()
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        await pilot.pause()
        table.set_filter("b", state, typed=True)  # (the first key: at once)
        assert table.filter_text == "b" and table.row_count == 1200
        table.set_filter("bu", state, typed=True)  # (the next ones within 0.1 s: together)
        table.set_filter("bun", state, typed=True)
        assert table.filter_text == "b"
        await until_shown(pilot, "the text typed last", lambda: table.filter_text == "bun")
        assert _ids(table) == _matching(state, "bun")
        table.set_filter("bund", state, typed=True)
        table.set_filter("bu", state)  # (`enter`: at once, and nothing typed before after it)
        assert table.filter_text == "bu" and _ids(table) == _matching(state, "bu")
        await pilot.pause(0.3)
        assert table.filter_text == "bu" and _ids(table) == _matching(state, "bu")


async def test_a_burst_typed_in_the_dashboard_s_filter_shows_its_tasks(tmp_path: Path) -> None:
    db = f"{tmp_path}/f.db"
    now = time.time()
    tasks = [f"{KINDS[i % len(KINDS)]}-{i:05d}" for i in range(400)]
    started = run_started(now - 5, "f", tasks, agent="a", slots=4)
    run_id = await live_run(db, "f", [started, ev.PhaseStarted(now - 5, "p")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        await until_shown(pilot, "the tasks", lambda: table.row_count == 400)
        for ch in "/bund":  # (as a terminal's driver posts them: none waited for)
            app.post_message(events.Key("slash" if ch == "/" else ch, ch))
        box = screen.query_one("#filter", Input)
        await until_shown(pilot, "the typed filter", lambda: box.value == "bund")
        want = [t for t in tasks if "bund" in t]
        await until_shown(pilot, "the bundles", lambda: _ids(table) == want)
        await pilot.press("escape")
        await until_shown(pilot, "every task", lambda: table.row_count == 400)
        assert _ids(table) == tasks
