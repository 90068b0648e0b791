"""The task's output view keeps following a running task (the tester's report on the output
view, `l` on a task printing thousands of lines): `w` (wrap) and `n` (clear the search) jumped
back to an old place and stayed there; wrapped lines kept the old width after a resize; `end`
scrolled to the end in an animation, the lines that came meanwhile found the view not at the
end and following stopped; the search in the title showed control characters escaped twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.output import OutputLog

from .helpers import SIZE, dashboard, live_run, run_started, text, until_shown


def _line(n: int) -> str:
    """A long line whose end names it (its last piece, wrapped, is its own)."""
    return f"line {n} " + "x" * 100 + f" end {n}."


class Printer:
    """A running task's engine, writing its output lines to the store as it prints them."""

    def __init__(self, db: str, run_id: str) -> None:
        self.db, self.run_id, self.printed = db, run_id, 0
        self.printing = False

    async def more(self, count: int) -> None:
        store = await SQLiteStore.open(self.db)
        try:
            first = self.printed + 1
            lines = [
                OutputLine(self.run_id, "spew", 1, n, "out", _line(n), time.time())
                for n in range(first, first + count)
            ]
            await store.write_batch(self.run_id, [], lines)
        finally:
            await store.close()
        self.printed += count

    async def keep_printing(self) -> None:
        """Ten lines every 50 ms, until told to stop (the task printing on, at its own pace)."""
        self.printing = True
        while self.printing:
            await self.more(10)
            await asyncio.sleep(0.05)


async def _running(tmp_path: Path, count: int) -> tuple[str, Printer]:
    now = time.time()
    events: list[ev.Event] = [
        run_started(now, "spewing", ["spew"]),
        ev.TaskStarted(now, "spew", 1, "m", 1, 1),
    ]
    db = f"{tmp_path}/f.db"
    run_id = await live_run(db, "spewing", events)
    printer = Printer(db, run_id)
    await printer.more(count)
    return run_id, printer


async def _output(app: PhasegateApp, pilot: Pilot[None], printer: Printer) -> OutputLog:
    """`l` on the task: its output view, laid out, showing its lines so far."""
    await dashboard(app, pilot)
    await pilot.press("l")
    await until_shown(
        pilot,
        "the task's output",
        lambda: (
            isinstance(app.screen, TaskScreen)
            and app.screen.is_mounted
            and app.screen.query_one(OutputLog).scrollable_content_region.width > 0
        ),
    )
    log = app.screen.query_one(OutputLog)
    await _shows_the_last_line(pilot, log, printer, "the output so far")
    return log


async def _shows_the_last_line(
    pilot: Pilot[None], log: OutputLog, printer: Printer, what: str
) -> None:
    """The view at its end, the last line printed on screen."""
    n = printer.printed
    await until_shown(
        pilot,
        f"{what}: the view at the last line (line {n})",
        lambda: (
            log.lines[-1]
            and _line(n).endswith(log.lines[-1])
            and not log.app.animator.is_being_animated(log, "scroll_y")
            and log.scroll_y == log.max_scroll_y
            and f"line {n} " in text(log)  # (its first piece, wrapped)
        ),
    )


async def test_wrap_keeps_following(tmp_path: Path) -> None:
    run_id, printer = await _running(tmp_path, 400)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output(app, pilot, printer)
        await pilot.press("w")
        await until_shown(pilot, "the lines wrapped", lambda: "wrapped" in str(log.border_title))
        await _shows_the_last_line(pilot, log, printer, "after `w`")
        await printer.more(200)
        await _shows_the_last_line(pilot, log, printer, "`w`, then more lines")
        await pilot.press("w")  # and back: whole lines, still the end
        await until_shown(pilot, "the lines whole", lambda: "wrapped" not in str(log.border_title))
        await _shows_the_last_line(pilot, log, printer, "after `w` again")


async def test_clearing_the_search_keeps_following(tmp_path: Path) -> None:
    run_id, printer = await _running(tmp_path, 600)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output(app, pilot, printer)
        # a search that finds more lines than the pane holds, at their end; then `n`
        await pilot.press("slash", *"0 x", "enter")
        await until_shown(pilot, "the search", lambda: "matching" in str(log.border_title))
        assert all("0 x" in line for line in log.lines)
        await printer.more(300)  # (a line in ten: 90 found)
        await until_shown(pilot, "a line found", lambda: f"line {printer.printed} " in text(log))
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        await pilot.press("n")
        await until_shown(pilot, "every line", lambda: "matching" not in str(log.border_title))
        await _shows_the_last_line(pilot, log, printer, "after `n`")
        await printer.more(100)
        await _shows_the_last_line(pilot, log, printer, "`n`, then more lines")


async def test_wrapped_lines_take_the_new_width_after_a_resize(tmp_path: Path) -> None:
    run_id, printer = await _running(tmp_path, 300)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output(app, pilot, printer)
        await pilot.press("w")
        await until_shown(pilot, "the lines wrapped", lambda: "wrapped" in str(log.border_title))
        narrow = log.scrollable_content_region.width
        assert max(len(line) for line in log.lines) == narrow
        await pilot.resize_terminal(120, 40)
        await until_shown(
            pilot, "the wider pane", lambda: log.scrollable_content_region.width > narrow
        )
        wide = log.scrollable_content_region.width
        await until_shown(
            pilot,
            f"the lines cut at the new width ({wide} columns, were {narrow})",
            lambda: max(len(line) for line in log.lines) == wide,
        )
        assert log.lines[-1] == _line(printer.printed)[wide:]  # (its second piece: its end)
        await _shows_the_last_line(pilot, log, printer, "after the resize")
        await printer.more(50)
        await _shows_the_last_line(pilot, log, printer, "the resize, then more lines")
        assert max(len(line) for line in log.lines) == wide


async def test_a_smaller_terminal_keeps_following(tmp_path: Path) -> None:
    """A shorter pane left the view where it was, above the end: new lines went unseen."""
    run_id, printer = await _running(tmp_path, 300)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        log = await _output(app, pilot, printer)
        tall = log.size.height
        await pilot.resize_terminal(80, 24)
        await until_shown(pilot, "the shorter pane", lambda: log.size.height < tall)
        await printer.more(20)
        await _shows_the_last_line(pilot, log, printer, "the resize, then more lines")
        await pilot.press("w")  # wrapped, narrower again: cut to the width, the end followed
        await until_shown(pilot, "the lines wrapped", lambda: "wrapped" in str(log.border_title))
        await pilot.resize_terminal(70, 20)
        narrow = log.scrollable_content_region.width
        await until_shown(
            pilot,
            f"the lines cut at the new width ({narrow} columns)",
            lambda: max(len(line) for line in log.lines) == narrow,
        )
        await printer.more(20)
        await _shows_the_last_line(pilot, log, printer, "wrapped, the resize, then more lines")


async def test_scrolled_up_the_view_keeps_its_top_line_through_wrap_resize_and_search(
    tmp_path: Path,
) -> None:
    """Scrolled up, `w` kept the scroll offset: a place in other lines (line 911 at the top
    became line 456, wrapped); so did a resize, wrapped, and `n`."""
    run_id, printer = await _running(tmp_path, 600)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output(app, pilot, printer)
        log.scroll_to(y=500, animate=False)  # (line 500 on top: after the attempt's line)

        def top() -> str:
            return text(log).splitlines()[1].strip("│ ").split(" x")[0]

        await until_shown(pilot, "the view scrolled up", lambda: top() == "line 500")
        await pilot.press("w")
        await until_shown(pilot, "the lines wrapped", lambda: "wrapped" in str(log.border_title))
        await until_shown(pilot, "line 500 on top, wrapped", lambda: top() == "line 500")
        await printer.more(20)  # scrolled up: it stays
        await until_shown(pilot, "the new lines", lambda: _line(620).endswith(log.lines[-1]))
        assert top() == "line 500"
        await pilot.press("slash", *"5 x", "enter")  # line 505 is the next found
        await until_shown(pilot, "the search", lambda: "matching" in str(log.border_title))
        await until_shown(pilot, "line 505 on top, searched", lambda: top() == "line 505")
        await pilot.press("n")
        await until_shown(pilot, "every line", lambda: "matching" not in str(log.border_title))
        await until_shown(pilot, "line 505 on top, all lines", lambda: top() == "line 505")
        await pilot.resize_terminal(120, 40)
        await until_shown(pilot, "the wider lines", lambda: max(len(x) for x in log.lines) > 100)
        await until_shown(pilot, "line 505 on top, resized", lambda: top() == "line 505")


@pytest.mark.slow
async def test_end_follows_the_lines_that_come_while_it_gets_there(tmp_path: Path) -> None:
    run_id, printer = await _running(tmp_path, 600)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output(app, pilot, printer)
        await pilot.press("pageup", "pageup", "pageup")
        await until_shown(
            pilot,
            "the view scrolled up",
            lambda: (
                log.scroll_y < log.max_scroll_y - 20
                and not app.animator.is_being_animated(log, "scroll_y")
            ),
        )
        top = log.scroll_y
        await printer.more(30)  # scrolled up, the view stays where it is
        last = f"end {printer.printed}."
        await until_shown(pilot, "the new lines", lambda: last in log.lines[-1])
        assert log.scroll_y == top
        # `end` while the task prints on (Textual's own `end` scrolled in an animation of a
        # second, which the key press waits for: the lines that came meanwhile stopped it short)
        printing = asyncio.create_task(printer.keep_printing())
        try:
            await pilot.press("end")
        finally:
            printer.printing = False
            await printing
        await _shows_the_last_line(pilot, log, printer, "after `end`, lines coming")
        for _ in range(3):
            await printer.more(40)
            await _shows_the_last_line(pilot, log, printer, "`end`, then more lines")


async def test_the_search_in_the_title_is_escaped_once(tmp_path: Path) -> None:
    run_id, printer = await _running(tmp_path, 10)
    app = PhasegateApp(printer.db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output(app, pilot, printer)
        await pilot.press("slash")
        box = app.screen.query_one("#search", Input)
        box.value = "\x1b[31m"
        await pilot.press("enter")
        # (no line holds it: the title says so, the search as typed, escaped once)
        await until_shown(pilot, "the search", lambda: "matches" in str(log.border_title))
        assert "no line matches '\\x1b[31m' (n: all lines)" in str(log.border_title)
        assert "\\\\" not in str(log.border_title)
