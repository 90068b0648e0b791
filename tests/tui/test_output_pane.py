"""Long text can be read whole (issue 19, point 3): the task pane scrolls long lines sideways with
the arrows, and `w` wraps them into the pane's width (and back); `enter` on the risk feed shows
every risk's message whole."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.risks import RisksScreen
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.output import OutputLog
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
