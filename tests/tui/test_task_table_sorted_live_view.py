"""A sorted (or filtered) task table of a big live run: a refresh where tasks change status
keeps the view where the user put it (the scroll offset, the cursor on its task); Home and End
move to the first and the last task.

Regressions: every refresh of a sorted table laid all the rows out again, which sent the view
back to the top (and cost ~0.4 s of CPU for 3,000 tasks, ten times a second); Home and End
scrolled sideways and left the cursor where it was."""

from __future__ import annotations

from textual.app import App, ComposeResult

from phasegate.engine.model.state import PhaseState, RunState, TaskState, TaskStatus
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE


class _Tasks(App[None]):
    def compose(self) -> ComposeResult:
        yield TaskTable()


def _run(n: int) -> RunState:
    state = RunState()
    state.phases["build"] = PhaseState("build")
    for i in range(n):
        state.tasks[f"t{i:03d}"] = TaskState(f"t{i:03d}", "build", agent="w")
    return state


async def test_a_sorted_table_keeps_its_view_through_a_live_refresh() -> None:
    state = _run(300)
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        table.focus()
        table.cycle_sort(state)  # by status
        await pilot.pause()
        assert table.sort_key == "status"
        # the user goes down the list (a page at a time: one keypress each), and back up a little
        while table.cursor_row < 140:
            await pilot.press("pagedown")
        while table.cursor_row != 155:
            await pilot.press("down" if table.cursor_row < 155 else "up")
        await pilot.press("up", "up", "up", "up", "up")
        await pilot.pause()
        chosen, offset = table.selected, table.scroll_y
        assert chosen == "t150" and offset > 0, (chosen, offset)
        # tasks start (running sorts first) and end, some of them above the user's row
        changed = ["t010", "t020", "t200", "t250", "t100"]
        for tid in changed[:3]:
            state.tasks[tid].status = TaskStatus.RUNNING
        for tid in changed[3:]:
            state.tasks[tid].status = TaskStatus.SUCCEEDED
        table.refresh_tasks(state, changed, now=1.0)
        await pilot.pause()
        await pilot.pause()
        assert table.selected == "t150"
        assert table.scroll_y == offset
        # the rows are in the new order: the running ones first, the succeeded last
        ordered = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert ordered[:3] == ["t010", "t020", "t200"]
        assert ordered[-2:] == ["t100", "t250"]
        assert ordered.index("t150") == table.cursor_row
        assert "running" in str(table.get_row("t200")[3])


async def test_home_and_end_move_to_the_first_and_last_task() -> None:
    state = _run(300)
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        table.focus()
        await pilot.pause()
        await pilot.press("down", "down", "down")
        await pilot.press("end")
        await pilot.pause()
        assert table.selected == "t299"
        assert table.scroll_y == table.max_scroll_y > 0
        await pilot.press("home")
        await pilot.pause()
        assert table.selected == "t000"
        assert table.scroll_y == 0
