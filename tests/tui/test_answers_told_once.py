"""A command sent from the dashboard is answered by one toast, in the engine's words: the
screen that sent it says the answer, and the answer read back from the run (which every other
dashboard shows) is not said again here.

Regression: a refused command was told twice (`refused: the run is paused already` from the
key, then `the run is paused already` read back), and a command taken said `pause sent` and
then the engine's answer."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from phasegate.engine.client import SQLiteStore
from phasegate.engine.model import events as ev
from phasegate.tui.dashboard import feed as feed_mod
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen

from .helpers import SIZE, dashboard, live_run, run_started, until_shown


async def _read(feed: RunFeed, seq: int) -> None:
    while feed._seq < seq:
        await asyncio.sleep(0.01)


async def test_each_answer_is_one_toast_in_the_engine_s_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/a.db"
    now = time.time()
    events: list[ev.Event] = [
        run_started(now - 60, "told", ["t"], agent="a", slots=1),
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 60, "t", 1, "a", 1, 1),
    ]
    run_id = await live_run(db, "told", events)
    answers = [
        (True, "paused: running tasks finish, no new task starts"),
        (False, "the run is paused already"),
    ]
    seq = [len(events)]

    async def deliver(store: object, run: str, order: object) -> tuple[int, ev.Event]:
        """The engine's part: the answer recorded in the run, and handed back."""
        ok, message = answers[seq[0] - len(events)]
        number = seq[0] - len(events) + 1
        answer = ev.CommandDone(time.time(), number, "pause", "me", ok, message, os.getuid())
        seq[0] += 1
        writer = await SQLiteStore.open(db)
        try:
            await writer.write_batch(run, [(seq[0], answer)])
        finally:
            await writer.close()
        # the engine records its answer before the dashboard hears it: a drain may read it
        # first (here, always: the race that told a refusal twice now and then)
        feed = screens[0].feed
        await asyncio.wait_for(_read(feed, seq[0]), 10)
        return number, answer

    screens: list[DashboardScreen] = []
    monkeypatch.setattr(feed_mod, "deliver", deliver)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        screens.append(screen)
        for ok, message in answers:
            at = seq[0]
            await pilot.press("p")
            # (its drain over: what that drain had to tell is told by now)
            await until_shown(
                pilot,
                "the answer read back",
                lambda at=at: (  # type: ignore[misc]
                    screen.feed._seq > at
                    and not getattr(screen.feed, "_sending", 0)  # (its answer held, then told)
                    and not getattr(screen.feed, "_held", ())
                    and not screen._draining
                ),
            )
            said = [n.message for n in app._notifications]
            assert sum(message in m for m in said) == 1, said
            assert not any(m.endswith(" sent") for m in said), said
            if not ok:
                assert said[-1] == f"refused: {message}", said
            app._notifications.clear()


async def test_what_someone_else_did_says_who(tmp_path: Path) -> None:
    """Regression: another user's command showed in every dashboard as a bare `noted` or
    `paused: ...`, never saying who did it."""
    db = f"{tmp_path}/o.db"
    now = time.time()
    run_id = await live_run(db, "others", [run_started(now - 5, "others", ["t"], agent="a")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        writer = await SQLiteStore.open(db)
        try:
            done = ev.CommandDone(now, 9, "pause", "bob", True, "paused: no new task starts", 4242)
            await writer.write_batch(run_id, [(2, done)])
        finally:
            await writer.close()
        await until_shown(
            pilot,
            "bob's pause",
            lambda: screen.feed._seq >= 2 and not screen._draining,
        )
        said = [n.message for n in app._notifications]
        assert "bob: paused: no new task starts" in said, said
