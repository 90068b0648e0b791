"""Pilot tests of the dashboard on a run that goes on (or whose engine died): quitting asks,
detaching leaves it going, a dead engine is offered for take-over, keys steer the selected task."""

from __future__ import annotations

import os
import time

import pytest

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.engine_lost import EngineLostScreen
from phasegate.tui.dashboard.screens.quit import QuitScreen
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, live_run, run_started, text, until_shown
from .helpers import commands as sent_commands


async def _active_run(db: str, dead: bool = False) -> str:
    """A live run with one task running and one waiting (its engine dead if `dead`)."""
    now = time.time()
    started = run_started(now, "live", ["first", "t"], agent="a")
    return await live_run(db, "live", [started, ev.TaskStarted(now, "t", 1, "a", 1, 1)], dead)


async def test_quitting_an_active_run_asks_and_stop_sends_a_cancel(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("q", "ctrl+s")
        await pilot.pause()
    assert app.return_value == "stopped"
    assert [kind for kind, _ in await sent_commands(db, run_id)] == ["cancel"]


async def test_leaving_an_active_run_running(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("q", "l")
        await pilot.pause()
    assert app.return_value == "left"


async def test_d_detaches_and_leaves_the_run_going(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("d")
        await pilot.pause()
    assert app.return_value == "detached"
    assert await sent_commands(db, run_id) == []  # nothing was stopped


async def test_a_dead_engine_is_announced_and_r_takes_the_run_over(
    finished_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = finished_run
    run_id = await _active_run(db, dead=True)
    started: list[tuple[str, str]] = []

    class Engine:
        pid = 4242

    def fake_take_over(db_path: str, rid: str) -> Engine:
        started.append((db_path, rid))
        return Engine()

    monkeypatch.setattr("phasegate.tui.launch.take_over", fake_take_over)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        shown = " ".join(text(s) for s in app.screen.query("Static"))
        assert f"Run {run_id} was interrupted" in str(app.screen.query_one("Vertical").border_title)
        assert "In flight: t" in shown and f"phasegate resume {run_id}" in shown
        await pilot.press("escape")
        screen = await dashboard(app, pilot)
        assert "interrupted" in text(screen.query_one(RunHeader))
        # put off, the offer stays a key away (README: `r` takes the run over)
        footer = [b.binding.action for b in screen.active_bindings.values() if b.enabled]
        assert "take_over" in footer
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        await pilot.press("escape")
        await dashboard(app, pilot)
        await pilot.press("q")  # no live engine: nothing to ask
        await pilot.pause()
    assert app.return_value is None and started == []

    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        await pilot.press("r")
        await pilot.pause()
        assert started == [(db, run_id)]
        assert isinstance(app.screen, DashboardScreen)


async def test_f_follows_the_running_task(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        assert table.selected == "first"
        await pilot.press("f")
        assert table.follow and "following" in str(table.border_title)
        assert table.selected == "t"  # the running one


@pytest.mark.slow
async def test_p_s_x_n_send_commands_for_the_selected_task(
    finished_run: tuple[str, str],
) -> None:
    from phasegate.tui.dashboard.screens.ask import AskScreen, ConfirmScreen

    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("p")
        await pilot.press("s")
        assert isinstance(app.screen, AskScreen)
        await pilot.press("enter")  # no reason: nothing sent, still asking
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"dup", "enter")  # (enter alone skips nothing)
        assert isinstance(app.screen, AskScreen)
        await pilot.press("ctrl+s")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing sent
        await pilot.press("x", "ctrl+s")
        await pilot.press("n", *"late deploy", "enter")
        await pilot.press("R")  # pending: nothing to run again (it says so, asks nothing)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("plus", "plus")
        await pilot.pause()
    sent = [
        (k, {a: v for a, v in args.items() if a in ("task", "reason", "text", "priority")})
        for k, args in await sent_commands(db, run_id)
    ]
    assert sent == [
        ("pause", {}),
        ("skip", {"task": "first", "reason": "dup"}),
        ("cancel_task", {"task": "first"}),
        ("note", {"text": "late deploy"}),
        ("priority", {"task": "first", "priority": 1}),  # (no engine here applies the first)
        ("priority", {"task": "first", "priority": 1}),
    ]


async def test_steering_a_finished_run_says_so(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("p", "s")
        assert isinstance(app.screen, DashboardScreen)
    assert await sent_commands(*finished_run) == []


async def test_the_interrupted_prompt_closes_once_the_run_is_resumed_elsewhere(
    finished_run: tuple[str, str],
) -> None:
    """Regression (issue 19): after `phasegate resume` in another terminal, the "was
    interrupted" prompt stayed on a live run, offering r."""
    import psutil

    from phasegate.engine.store import SQLiteStore

    db, _ = finished_run
    run_id = await _active_run(db, dead=True)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        store = await SQLiteStore.open(db)  # a new engine (this process) takes the run
        try:
            me = os.getpid()
            await store.acquire_lease(
                run_id, me, psutil.Process(me).create_time(), time.time(), lambda *_: False
            )
        finally:
            await store.close()
        screen = app.get_screen_stack()[-2] if len(app.screen_stack) > 1 else None
        assert isinstance(screen, DashboardScreen)
        await screen._tick()  # (once a second)
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "interrupted" not in text(screen.query_one(RunHeader))
        shown = {b.binding.key for b in screen.active_bindings.values() if b.enabled}
        assert {"p", "d"} <= shown  # steerable again


async def test_a_run_that_ends_while_q_asks_closes_the_dashboard(
    finished_run: tuple[str, str],
) -> None:
    # (`q` pressed just before the run's end reached the dashboard: the question "stop it or
    # leave it going?" stayed up over the ended run, and `phasegate run` waited for a key)
    from phasegate.engine.store import SQLiteStore

    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        store = await SQLiteStore.open(db)
        try:
            done = time.time()
            ended = [
                ev.TaskFinished(done, "t", 1, "succeeded", 0),
                ev.RunFinished(done, "succeeded"),
            ]
            await store.write_batch(run_id, [(3, ended[0]), (4, ended[1])])
        finally:
            await store.close()
        await until_shown(pilot, "the dashboard to close", lambda: not app.is_running)
    assert app.return_value is None  # (as `q` on an ended run: not "left", not "stopped")
    assert await sent_commands(db, run_id) == []
