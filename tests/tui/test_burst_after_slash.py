"""`/` and the words typed right after it in one burst (a paste, a fast typist, keys sent over a
slow SSH link) all reach the box `/` opens: the dashboard's filter, the task view's search, the
run browser's filter. A `/` typed into the box is text.

Regression: the box opened empty. The keys had been handed to the widget focused when they
arrived (the task table), before `/`'s action moved the focus, and were lost there."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.widgets import Input

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.browser import BrowserScreen
from phasegate.tui.dashboard.screens.task import TaskScreen

from .helpers import SIZE, dashboard, footer, live_run, run_started, until_shown


def burst(app: PhasegateApp, text: str) -> None:
    """The keys as a terminal's driver posts them: each its own event, none waited for."""
    for ch in text:
        app.post_message(events.Key("slash" if ch == "/" else ch, ch))


async def _shows(pilot: object, app: PhasegateApp, box: str, text: str) -> None:
    def typed() -> bool:
        return app.screen.query_one(box, Input).value == text

    await until_shown(pilot, f"{text!r} in {box}", typed, seconds=3)


async def _offers(
    pilot: object, app: PhasegateApp, what: str, check: Callable[[str], bool]
) -> None:
    await until_shown(pilot, f"the footer offering {what}", lambda: check(footer(app, SIZE[0])))


async def test_every_key_of_a_burst_after_slash_reaches_its_box(tmp_path: Path) -> None:
    db = f"{tmp_path}/b.db"
    now = time.time()
    tasks = ["alpha", "beta", "gamma"]
    started = run_started(now - 5, "b", tasks, agent="a", slots=3)
    run_id = await live_run(db, "b", [started, ev.PhaseStarted(now - 5, "p")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        burst(app, "/ga/m")  # (`g` would open the gates, `m`... nothing: all are the filter's)
        await _shows(pilot, app, "#filter", "ga/m")
        await _offers(pilot, app, "only esc Clear filter", lambda k: k == "esc Clear filter")
        await pilot.press("enter")  # (the rest of the keys were text: now keys again)
        await _offers(pilot, app, "esc Clear filter", lambda k: "esc Clear filter" in k)
        await pilot.press("escape")  # (then nothing to clear; not opened from `ui`: no Back)
        await _offers(pilot, app, "no esc", lambda k: "esc" not in k and "/ Find" in k)
        await pilot.press("l")
        await until_shown(pilot, "the task view", lambda: isinstance(app.screen, TaskScreen))
        burst(app, "/x/y")
        await _shows(pilot, app, "#search", "x/y")
    app = PhasegateApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the browser", lambda: isinstance(app.screen, BrowserScreen))
        burst(app, "/b/c")
        await _shows(pilot, app, "#filter", "b/c")
