"""Without colour (NO_COLOR, `--color never`) what needs a person stands out most, as it does in
colour: Textual turns each colour into its grey, and red became a dark grey on the dark panels,
so that a failed task was the least readable row of the dashboard."""

from __future__ import annotations

import pytest
from rich.style import Style
from rich.text import Text

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.style import GATE_STYLE, SEVERITY_STYLE, STATUS_STYLE
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard


def _status_cell(table: TaskTable, task: str) -> Text:
    for i in range(table.row_count):
        row = table.get_row_at(i)
        if str(row[0]).strip() == task:
            cell = row[3]
            assert isinstance(cell, Text)
            return cell
    raise AssertionError(f"no row for {task}")


def _style(text: Text) -> Style:
    style = Style.parse(str(text.style)) if text.style else Style()
    for span in text.spans:
        style += Style.parse(str(span.style))
    return style


async def test_a_failed_task_is_reversed_without_colour_and_red_with_it(
    finished_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, run_id = finished_run
    monkeypatch.setenv("NO_COLOR", "1")
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        failed, fine = _status_cell(table, "flaky"), _status_cell(table, "compile")
        assert "failed" in failed.plain
        assert _style(failed).reverse and _style(failed).bold
        assert _style(failed).color is None  # (no colour for Textual to turn grey)
        assert not _style(fine).reverse
    monkeypatch.delenv("NO_COLOR")
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        failed = _status_cell(screen.query_one(TaskTable), "flaky")
        style = _style(failed)
        assert not style.reverse and style.color is not None and style.color.name == "red"


def test_without_colour_every_style_is_bold_reverse_dim_or_plain() -> None:
    from phasegate.tui.dashboard.widgets.style import use_colour

    try:
        use_colour(False)
        for table in (STATUS_STYLE, GATE_STYLE, SEVERITY_STYLE):
            for name, style in table.items():
                parsed = Style.parse(style)
                assert parsed.color is None and parsed.bgcolor is None, name
        assert STATUS_STYLE["failed"] == SEVERITY_STYLE["high"] == GATE_STYLE["open"]
        assert Style.parse(STATUS_STYLE["failed"]).reverse
        assert STATUS_STYLE["pending"] == "dim" and STATUS_STYLE["succeeded"] == ""
    finally:
        use_colour(True)
    assert STATUS_STYLE["failed"] == "bold red" and SEVERITY_STYLE["critical"].endswith("red")
