"""The dashboard on a terminal smaller than 80x24 (60x20): every column of the task table still
shows its values (the names give way, with an ellipsis, the times never), the footer's keys are
not drawn over, and the help box shows whole, its hint on its border."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Footer

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, text


async def test_the_task_table_keeps_every_column_at_60_columns(
    finished_run: tuple[str, str],
) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=(60, 20)) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        shown = text(table)
        header = next(line for line in shown.splitlines() if "TASK" in line)
        assert "TIME" in header and "STATUS" in header  # (TIME was cut to `T`)
        widths = {c.key.value: c.width for c in table.columns.values()}
        assert widths["time"] == 7 and widths["status"] == 11
        assert sum(w + 2 for w in widths.values()) + 2 <= table.scrollable_content_region.width
        assert "ms" in shown or "s " in shown  # (the durations are there)
        footer = screen.query_one(Footer)
        assert footer.show_command_palette is False  # (drawn over the keys at this width)
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert footer.show_command_palette is True


async def test_help_shows_whole_on_a_short_terminal(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=(60, 20)) as pilot:
        await dashboard(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one(VerticalScroll)
        assert box.region.y >= 0 and box.region.bottom <= 20
        assert "esc to close" in str(box.border_subtitle)
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert box.region.height == 22  # (as it was at 80x24)
