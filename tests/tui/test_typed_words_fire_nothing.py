"""A word typed into the dashboard by mistake fires nothing (README, "The dashboard"): cancelling a
task (`x`), running it again (`R`) and stopping the run from the quit dialog (`q`) are confirmed
by ctrl+s only, `n` or esc going back; and every key typed right after `n`, `s` or a gate's `r`,
however fast, is the text of the box it opens; a skip's reason is sent by ctrl+s only.

Regressions (a hunter's report): with a task selected, `oxygen` cancelled it (`x` asked, `y`
confirmed); `quits` stopped the whole run (the quit dialog's `s`); `nhello world` + enter noted
`ello world`, `nplease check` left the note empty (the keys after `n` were lost)."""

from __future__ import annotations

import time
from pathlib import Path

from textual import events
from textual.containers import Vertical
from textual.geometry import Region
from textual.widgets import Input, Static

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.ask import AskScreen, ConfirmScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.gate import GatePrompt
from phasegate.tui.dashboard.screens.quit import QuitScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import _TAKEN, SIZE, dashboard, live_run, run_started, text, until_shown
from .helpers import commands as sent_commands

_KEYS = {" ": "space", "\r": "enter"}


def burst(app: PhasegateApp, typed: str) -> None:
    """The keys as a terminal's driver posts them: each its own event, none waited for."""
    for ch in typed:
        app.post_message(events.Key(_KEYS.get(ch, ch), ch))


async def _going(db: str) -> str:
    """A live run: `failer` failed (its phase goes on: it may run again), `busy` runs."""
    now = time.time()
    return await live_run(
        db,
        "going",
        [
            run_started(now - 60, "going", ["busy", "failer"], agent="a", slots=2),
            ev.PhaseStarted(now - 60, "p"),
            ev.TaskStarted(now - 60, "failer", 1, "a", 1, 1),
            ev.TaskFinished(now - 50, "failer", 1, "failed", 1),
            ev.TaskStarted(now - 50, "busy", 1, "a", 1, 1),
        ],
    )


async def _select(pilot: object, screen: DashboardScreen, task: str) -> None:
    table = screen.query_one(TaskTable)
    await until_shown(pilot, f"{task} in the table", lambda: task in table._shown)
    table.move_cursor(row=table._shown.index(task))
    await pilot.pause()  # type: ignore[attr-defined]


def _dialog(app: PhasegateApp) -> str:
    """The open dialog's box as shown, after checking it lies inside the 80x24 screen."""
    box = app.screen.query_one(Vertical)
    assert Region(0, 0, *SIZE).contains_region(box.region), box.region
    return "\n".join([text(box), *(text(line) for line in box.query(Static))])


async def _settled(pilot: object, app: PhasegateApp) -> None:
    """Every key sent so far handled (a burst's keys go through several queues)."""
    for _ in range(20):
        await pilot.pause()  # type: ignore[attr-defined]


def _sent_so_far(db: str, run_id: str) -> list[str]:
    """The kinds of the commands the run's socket took so far (`commands` takes them once)."""
    return [kind for kind, _, _ in _TAKEN.get((db, run_id), [])]


async def _back(pilot: object, app: PhasegateApp, screen: DashboardScreen) -> None:
    """esc until the dashboard shows again."""
    for _ in range(3):
        if app.screen is screen:
            return
        await pilot.press("escape")  # type: ignore[attr-defined]
    assert app.screen is screen


async def test_typed_words_send_nothing_and_ctrl_s_confirms(tmp_path: Path) -> None:
    db = f"{tmp_path}/w.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        for typed in ("oxygen", "xy"):  # (fast, then a key at a time)
            for fast in (True, False):
                if fast:
                    burst(app, typed)
                else:
                    await pilot.press(*typed)
                await _settled(pilot, app)
                assert _sent_so_far(db, run_id) == [], typed
                await _back(pilot, app, screen)  # (a dialog may be open: `x`'s, `n`'s)
        await _select(pilot, screen, "busy")  # (`o` sorted the table)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        shown = _dialog(app)
        assert "Cancel task busy?" in shown and "ctrl+s cancels the task · esc goes back" in shown
        await pilot.press(*"yes", "enter", "y")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # goes back
        assert app.screen is screen
        await _select(pilot, screen, "failer")
        await pilot.press("R", *"yes", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "ctrl+s runs it again · esc goes back" in _dialog(app)
        await pilot.press("escape")
        assert _sent_so_far(db, run_id) == []

        for typed in ("quits", "qs"):
            burst(app, typed)
            await _settled(pilot, app)
            assert isinstance(app.screen, QuitScreen)
            shown = _dialog(app)
            assert "ctrl+s stop the run" in shown and "esc    stay here" in shown
            await pilot.press("escape")
            await pilot.press(*typed)
            assert isinstance(app.screen, QuitScreen)
            await pilot.press("escape")
        assert app.screen is screen and app.is_running
        assert _sent_so_far(db, run_id) == []

        await pilot.press("R", "ctrl+s")  # (`failer` selected) the keys that do act
        await _select(pilot, screen, "busy")
        await pilot.press("x", "ctrl+s")
        await pilot.press("q", "ctrl+s")
        await pilot.pause()
    assert app.return_value == "stopped"
    sent = [(kind, args.get("task")) for kind, args in await sent_commands(db, run_id)]
    assert sent == [("retry", "failer"), ("cancel_task", "busy"), ("cancel", None)]


async def test_every_key_of_a_burst_after_n_or_s_is_the_box_text(tmp_path: Path) -> None:
    db = f"{tmp_path}/n.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        for typed, send in (
            ("nhello world", "enter"),
            ("nplease check", "enter"),
            ("splease check", "ctrl+s"),  # (a skip's reason: enter alone sends nothing)
        ):
            burst(app, typed)
            await until_shown(pilot, "the box", lambda: isinstance(app.screen, AskScreen))
            await _settled(pilot, app)
            await pilot.press("enter")
            if send != "enter":
                await _settled(pilot, app)
                assert isinstance(app.screen, AskScreen)
                await pilot.press(send)
            await until_shown(pilot, "the dashboard", lambda: app.screen is screen)
        burst(app, "nquick note\r")  # (enter in the burst too: tmux send-keys "..." Enter)
        await until_shown(pilot, "the note sent", lambda: len(_sent_so_far(db, run_id)) == 4)
        await until_shown(pilot, "the dashboard", lambda: app.screen is screen)
        burst(app, "status\r")  # a word and enter typed by mistake: skip nothing
        await until_shown(pilot, "the box", lambda: isinstance(app.screen, AskScreen))
        await _settled(pilot, app)
        assert isinstance(app.screen, AskScreen)
        assert app.screen.query_one(Input).value == "tatus"
        await pilot.press("escape")
        await _settled(pilot, app)
    sent = [
        (kind, args.get("text") or args.get("reason"))
        for kind, args in await sent_commands(db, run_id)
    ]
    assert sent == [
        ("note", "hello world"),
        ("note", "please check"),
        ("skip", "please check"),
        ("note", "quick note"),
    ]


async def test_every_key_of_a_burst_after_a_gates_r_is_the_reason(tmp_path: Path) -> None:
    db = f"{tmp_path}/g.db"
    now = time.time()
    started = ev.RunStarted(
        now,
        "gated",
        "gated-plan",
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "review", "after": "p", "approval": "manual", "quorum": 1}],
    )
    opened = ev.GateOpened(now, "review", 1, [], "ab" * 32, "manual")
    run_id = await live_run(db, "gated", [started, opened])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the gate prompt", lambda: isinstance(app.screen, GatePrompt))
        burst(app, "rnot ready yet\r")
        await _settled(pilot, app)
        assert isinstance(app.screen, GatePrompt) and app.screen.asking  # (enter decides nothing)
        await pilot.press("ctrl+s")
        await until_shown(pilot, "the dashboard", lambda: isinstance(app.screen, DashboardScreen))
    assert await sent_commands(db, run_id) == [
        ("reject", {"gate": "review", "reason": "not ready yet"})
    ]
