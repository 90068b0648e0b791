"""Long text can be read whole (issue 19, point 3): the task pane scrolls long lines sideways with
the arrows, and `w` wraps them into the pane's width (and back); `enter` on the risk feed shows
every risk's message whole."""

from __future__ import annotations

import time
from pathlib import Path

from textual.pilot import Pilot

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.risks import RisksScreen
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.output import KEEP_LINES, OutputLog
from phasegate.tui.dashboard.widgets.risks import RiskFeed

from .helpers import SIZE, dashboard, live_run, run_started, text, until_shown

LONG = "tests/test_cli.py::test_something_with_a_long_name " + "." * 60 + " [ 18%]"


async def test_long_lines_scroll_sideways_or_wrap(tmp_path: Path) -> None:
    now = time.time()
    events: list[ev.Event] = [
        run_started(now, "long", ["unit"]),
        ev.TaskStarted(now, "unit", 1, "m", 1, 1),
    ]
    db = f"{tmp_path}/o.db"
    run_id = await live_run(db, "long", events)
    store = await SQLiteStore.open(db)
    try:
        await store.write_batch(run_id, [], [OutputLine(run_id, "unit", 1, 1, "out", LONG, now)])
    finally:
        await store.close()
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("enter")
        await until_shown(  # (mounted and laid out: the width below is the pane's)
            pilot,
            "the task's pane",
            lambda: (
                isinstance(app.screen, TaskScreen)
                and app.screen.is_mounted
                and app.screen.query_one(OutputLog).scrollable_content_region.width > 0
            ),
        )
        assert isinstance(app.screen, TaskScreen)
        log = app.screen.query_one(OutputLog)
        width = log.scrollable_content_region.width
        assert len(LONG) > width and log.scroll_x == 0  # its end is past the right edge
        await until_shown(  # (the Log measures its lines in a thread)
            pilot,
            "the output pane to measure its lines",
            lambda: log.virtual_size.width >= len(LONG),
        )
        await pilot.press("right", "right", "right")  # (a quarter of the pane each)
        await until_shown(
            pilot, "the pane scrolled to the line's end", lambda: log.scroll_x + width >= len(LONG)
        )
        assert log.scroll_x + width >= len(LONG)  # scrolled to its end
        await pilot.press("left", "left", "left")
        await until_shown(pilot, "the pane scrolled back", lambda: log.scroll_x == 0)
        assert log.scroll_x == 0
        await pilot.press("w")
        await until_shown(
            pilot, "the lines wrapped", lambda: log.wrap and "wrapped" in str(log.border_title)
        )
        assert log.wrap and "wrapped" in str(log.border_title)
        lines = list(log.lines)
        assert all(len(line) <= width for line in lines)
        assert "".join(lines[1:]) == LONG  # (after the attempt's line) cut, nothing lost
        await pilot.press("w")
        await until_shown(
            pilot,
            "the lines whole again",
            lambda: not log.wrap and list(log.lines)[1:] == [LONG],
        )
        assert not log.wrap and list(log.lines)[1:] == [LONG]


async def test_enter_on_the_risk_feed_shows_every_risk_whole(tmp_path: Path) -> None:
    now = time.time()
    long_reason = "exited with code 3: " + "the linker could not find libfoo " * 4 + "END"
    events: list[ev.Event] = [
        run_started(now, "risky", ["build"]),
        ev.TaskStarted(now, "build", 1, "m", 1, 1),
        ev.TaskFinished(now, "build", 1, "failed", 3, reason=long_reason),
    ]
    db = f"{tmp_path}/r.db"
    run_id = await live_run(db, "risky", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        feed = screen.query_one(RiskFeed)
        await until_shown(pilot, "the risk in the feed", lambda: "task build: exited" in text(feed))
        assert "END" not in text(feed)  # cut to one line in the feed
        feed.focus()
        await pilot.press("enter")
        await until_shown(
            pilot,
            "the risks whole",
            lambda: isinstance(app.screen, RisksScreen) and app.screen.is_mounted,
        )
        assert isinstance(app.screen, RisksScreen)
        whole = " ".join(text(w) for w in app.screen.query("Static"))
        assert "END" in " ".join(whole.split()) and "build" in whole
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RisksScreen)


async def test_a_decided_gates_reason_reads_whole(
    tmp_path: Path,
) -> None:
    now = time.time()
    reason = "criteria failed: " + "tests unit (failed <= 0): 3 failed " * 3 + "END"
    events: list[ev.Event] = [
        run_started(
            now,
            "gated",
            ["unit"],
            gates=[{"id": "qa", "after": "p", "approval": "auto", "approvers": [], "quorum": 1}],
        ),
        ev.GateOpened(now, "qa", 1, [], "", "auto"),
        ev.GateClosed(now, "qa", "failed", reason),
    ]
    db = f"{tmp_path}/g.db"
    run_id = await live_run(db, "gated", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("g")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await until_shown(
            pilot,
            "the gate's reason",
            lambda: any("gate qa failed" in n.message for n in app._notifications),
        )
        (toast,) = [n for n in app._notifications if "gate qa failed" in n.message]
        assert toast.message.endswith("END")  # whole, where the table cuts it


async def test_a_risk_that_cleared_says_so_in_words(tmp_path: Path) -> None:
    """The feed listed a risk rule's risk that no longer held as it listed an open one: `Risks
    (2)` and the same line, whatever colour says. Now `cleared · ` comes first, the title
    counts them, and the whole list says when it cleared."""
    now = time.time()
    overrun = "running 9.0s, past its estimate of 2.0s"
    events: list[ev.Event] = [
        run_started(now, "cleared", ["fetch"]),
        ev.TaskStarted(now, "fetch", 1, "m", 1, 1),
        ev.RiskRaised(now + 1, "overrun:fetch", "task_overrun", "medium", "task fetch", overrun),
        ev.RiskRaised(now + 2, "silent:fetch", "silent_agent", "medium", "task fetch", "quiet"),
        ev.RiskCleared(now + 3, "overrun:fetch", "it ended"),
    ]
    db = f"{tmp_path}/c.db"
    run_id = await live_run(db, "cleared", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        feed = screen.query_one(RiskFeed)
        await until_shown(pilot, "both risks", lambda: "past its estimate" in text(feed))
        lines = text(feed).splitlines()
        assert "Risks (2, 1 cleared)" in lines[0], lines
        assert any("cleared · task fetch: running 9.0s" in line for line in lines), lines
        assert any("MED task fetch: quiet" in " ".join(line.split()) for line in lines), lines
        feed.focus()
        await pilot.press("enter")
        await until_shown(pilot, "the risks whole", lambda: isinstance(app.screen, RisksScreen))
        whole = " ".join(text(w) for w in app.screen.query("Static"))
        cleared = time.strftime("%H:%M:%S", time.localtime(now + 3))
        assert f"task fetch · cleared {cleared}" in whole, whole
        # the list open, the other one clears: it says so without being opened again
        store = await SQLiteStore.open(db)
        try:
            await store.write_batch(run_id, [(6, ev.RiskCleared(now + 4, "silent:fetch"))])
        finally:
            await store.close()
        later = time.strftime("%H:%M:%S", time.localtime(now + 4))
        await until_shown(
            pilot,
            "the open list to say the second risk cleared",
            lambda: f"cleared {later}" in " ".join(text(w) for w in app.screen.query("Static")),
        )


async def _printed(tmp_path: Path, lines: list[str], now: float) -> tuple[str, str]:
    """A live run whose task `seq` runs and has printed `lines`: (its database, the run's id)."""
    events: list[ev.Event] = [
        run_started(now, "big", ["seq"]),
        ev.TaskStarted(now, "seq", 1, "m", 1, 1),
    ]
    db = f"{tmp_path}/b.db"
    run_id = await live_run(db, "big", events)
    store = await SQLiteStore.open(db)
    try:
        output = [OutputLine(run_id, "seq", 1, n, "out", x, now) for n, x in enumerate(lines, 1)]
        await store.write_batch(run_id, [], output)
    finally:
        await store.close()
    return db, run_id


async def _output_of_seq(app: PhasegateApp, pilot: Pilot[object]) -> OutputLog:
    """`enter` on the dashboard's selected task (`seq`): its pane, once it shows output."""
    await dashboard(app, pilot)
    await pilot.press("enter")
    await until_shown(
        pilot,
        "the task's pane with its output",
        lambda: (
            isinstance(app.screen, TaskScreen)
            and app.screen.is_mounted
            and len(app.screen.query_one(OutputLog).lines) > 0
        ),
    )
    assert isinstance(app.screen, TaskScreen)
    return app.screen.query_one(OutputLog)


async def test_a_long_output_opens_at_its_tail_and_says_what_came_before(tmp_path: Path) -> None:
    """Regression: a 20,000-line task's pane showed `9982 … 10000` as if that were the end, until
    a key was pressed (it read the output from its first line, 5,000 lines a poll, into a Log
    that, once full, let lines go without repainting), and nothing said that earlier lines
    existed. It reads the last KEEP_LINES lines (a window, never the whole output), shows the
    real tail on its first paint and counts the lines before the window."""
    total = 20_000
    now = time.time()
    db, run_id = await _printed(tmp_path, [str(n) for n in range(1, total + 1)], now)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output_of_seq(app, pilot)
        await pilot.pause()
        shown = [row.strip("│ ") for row in text(log).splitlines()]
        assert str(total) in shown and str(KEEP_LINES) not in shown, shown  # the real tail
        assert log.lines[-1] == str(total) and log.lines[0] == str(total - KEEP_LINES + 1)
        earlier = f"{total - KEEP_LINES:,} earlier lines not shown"
        assert earlier in " ".join(text(log).split()), text(log)  # (in the pane's border)
        # more lines while it is shown: the window moves on, repainted without a key
        await _more(db, run_id, total, now, 1, 2)
        await until_shown(pilot, "the new lines", lambda: log.lines[-1] == "more 2")
        await pilot.pause()
        assert "more 2" in [row.strip("│ ") for row in text(log).splitlines()], text(log)
        assert f"{total - KEEP_LINES + 2:,} earlier lines not shown" in " ".join(text(log).split())
        # scrolled up (the first key moves it), the view stays on its lines as the window moves
        end = log.max_scroll_y
        await pilot.press("up")
        await until_shown(pilot, "the pane scrolled up", lambda: log.scroll_y == end - 1)
        top = text(log).splitlines()[1]
        await _more(db, run_id, total, now, 3, 4)
        await until_shown(pilot, "the lines after", lambda: log.lines[-1] == "more 4")
        await pilot.pause()
        assert text(log).splitlines()[1] == top, text(log)


async def _more(db: str, run_id: str, total: int, now: float, *numbers: int) -> None:
    """Lines `more N` written after the task's `total` lines, as its engine would."""
    store = await SQLiteStore.open(db)
    try:
        more = [OutputLine(run_id, "seq", 1, total + n, "out", f"more {n}", now) for n in numbers]
        await store.write_batch(run_id, [], more)
    finally:
        await store.close()


async def test_a_search_that_matches_nothing_says_so(tmp_path: Path) -> None:
    """A search in a task's output that matched none of its kept lines left an empty pane, read
    as a search still under way; of a long output, nothing said only its tail was searched."""
    total = KEEP_LINES + 500
    lines = [f"row {n};" for n in range(1, total + 1)]
    db, run_id = await _printed(tmp_path, lines, time.time())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        log = await _output_of_seq(app, pilot)
        log.set_search("row 7;")  # (only before the kept tail: line 7 of 10,500)
        await pilot.pause()
        said = " ".join(text(log).split())
        assert f"no line of the last {KEEP_LINES:,} kept matches" in said, said
        log.set_search(f"row {total};")
        await pilot.pause()
        said = " ".join(text(log).split())
        assert "no line" not in said and "matching" in said, said
