"""A coding agent's permission request in the dashboard (issue 17, point 3): it prompts (and
rings) only those who may answer it, `a` allows it once, `r` denies it with a message for the
agent, an answer from elsewhere closes the prompt, the roster and `g` show what waits."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.gate import GatesScreen
from phasegate.tui.dashboard.screens.permission import PermissionPrompt
from phasegate.tui.dashboard.widgets.agents import AgentRoster

from .helpers import SIZE, commands, live_run, run_started, text, until_shown

ME = current_identity().user
PID = "build-1-p1"


def _asking(
    detail: str = "rm -rf build/ && make", approvers: Sequence[str] = (), user: str = ME
) -> list[ev.Event]:
    """A run (started by `user`) whose claude agent's task `build` asks to use Bash."""
    now = time.time()
    return [
        run_started(now, "asking", ["build"], agent="claude", user=user),
        ev.TaskStarted(now, "build", 1, "claude", 1, 1),
        ev.PermissionAsked(
            now, PID, "build", 1, "Bash", detail, "the build is stale", list(approvers)
        ),
    ]


async def _append(db: str, run_id: str, events: Sequence[ev.Event]) -> None:
    store = await SQLiteStore.open(db)
    try:
        first = len(await store.read_events(run_id)) + 1
        await store.write_batch(run_id, list(enumerate(events, first)))
    finally:
        await store.close()


def _shown(app: PhasegateApp) -> str:
    """What the top screen shows: its box (border, title, keys) and what is in it."""
    return "\n".join(text(w) for w in app.screen.query("Vertical, Static, DataTable"))


async def test_shift_a_allows_the_tool_for_the_rest_of_the_task(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        assert "A for the task" in _shown(app)
        await pilot.press("A", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert await commands(db, run_id) == [("approve", {"gate": PID, "scope": "task"})]


async def test_a_request_prompts_with_its_tool_and_detail_and_a_allows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        shown = _shown(app)
        assert "Bash" in shown and "rm -rf build/ && make" in shown
        assert "build · attempt 1 · agent claude" in shown and "the build is stale" in shown
        await pilot.press("a", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert rang and len(rang) == 1
    assert [(kind, args["gate"]) for kind, args in await commands(db, run_id)] == [("approve", PID)]


async def test_r_denies_with_a_message_for_the_agent(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        await pilot.press("r", "ctrl+s")  # no message yet: nothing sent, the prompt stays
        assert isinstance(app.screen, PermissionPrompt)
        await pilot.press(*"use make clean", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert await commands(db, run_id) == [("reject", {"gate": PID, "reason": "use make clean"})]


async def test_who_may_not_answer_gets_no_prompt_and_no_bell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    runs = {
        "named": _asking(approvers=["not-me-at-all", "group:no-such-group-here"]),
        "theirs": _asking(user="someone-else"),  # no approvers: who may operate, not this user
    }
    for name, events in runs.items():
        run_id = await live_run(db, name, events)
        app = PhasegateApp(db, run_id)
        rang: list[float] = []
        monkeypatch.setattr(app, "bell", lambda rang=rang: rang.append(time.monotonic()))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await _append(db, run_id, [ev.RunNoted(time.time(), "still asking", "x")])
            await until_shown(pilot, "the note", lambda s=screen: s.feed.state.events == 4)
            assert isinstance(app.screen, DashboardScreen), name
            roster = text(screen.query_one(AgentRoster))
            assert "claude waiting 1/1 build" in roster and "for you" not in roster, roster
            await pilot.press("g")  # listed, but enter opens no prompt for them either
            assert isinstance(app.screen, GatesScreen)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, GatesScreen)
        assert rang == [], name
        assert await commands(db, run_id) == []


async def test_the_bell_rings_once_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        await pilot.press("escape")  # later: the request still waits, nothing rings again
        assert isinstance(app.screen, DashboardScreen)
        screen = app.screen
        later = ev.PermissionAsked(time.time(), "build-1-p2", "build", 1, "Edit", "src/x.py")
        await _append(db, run_id, [ev.RunNoted(time.time(), "still asking", "x"), later])
        await until_shown(
            pilot, "the second request", lambda: "build-1-p2" in screen.feed.state.permissions
        )
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt) and app.screen.permission == "build-1-p2"
    assert len(rang) == 2


async def test_markup_and_escapes_in_the_request_stay_inert(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    detail = "echo [bold red]owned[/] \x1b[2J\x1b]0;title\x07 done"
    events = _asking(detail=detail)
    asked = events[-1]
    assert isinstance(asked, ev.PermissionAsked)
    events[-1] = ev.PermissionAsked(
        asked.ts, PID, "build", 1, "[b]Bash[/b]", detail, "because [link=x]y[/link]\x1b[31m"
    )
    run_id = await live_run(db, "asking", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        shown = _shown(app)
        assert "echo [bold red]owned[/] \\x1b[2J\\x1b]0;title\\x07 done" in shown
        assert "[b]Bash[/b]" in shown and "because [link=x]y[/link]\\x1b[31m" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        await pilot.press("escape")
        await pilot.press("g")
        assert isinstance(app.screen, GatesScreen)
        row = [str(c) for c in app.screen.query_one("#permissions", DataTable).get_row_at(0)]
        assert row[:3] == [
            "build",
            "[b]Bash[/b]",
            "echo [bold red]owned[/] \\x1b[2J\\x1b]0;title\\x07 done",
        ]


async def test_the_roster_says_the_agent_waits_for_you(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        roster = text(screen.query_one(AgentRoster))
        assert "claude" in roster and "waiting" in roster and "for you · build" in roster
        await _append(db, run_id, [ev.PermissionAnswered(time.time(), PID, True, "ops")])
        await until_shown(
            pilot, "the answer", lambda: screen.feed.state.permissions[PID].status == "allowed"
        )
        await pilot.pause()
        roster = text(screen.query_one(AgentRoster))
        assert "busy" in roster and "waiting" not in roster and "for you" not in roster


async def test_an_answer_from_elsewhere_closes_the_prompt(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        # another operator answered (phasegate reject): the engine recorded it
        await _append(db, run_id, [ev.PermissionAnswered(time.time(), PID, False, "ops", 7, "no")])
        await until_shown(
            pilot, "the prompt to close", lambda: isinstance(app.screen, DashboardScreen)
        )
    assert await commands(db, run_id) == []  # this dashboard sent nothing


async def test_g_lists_open_requests_and_enter_answers_one(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape", "g")
        assert isinstance(app.screen, GatesScreen)
        shown = _shown(app)
        for words in ("ASKING TASK", "TOOL", "WANTS TO", "ASKED", "build", "Bash"):
            assert words in shown, words
        assert "rm -rf build/ && make" in shown
        assert "enter: answer an open one · tab: next table · esc close" in shown  # (80 columns)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt)
        await pilot.press("a", "ctrl+s")
        await pilot.pause()
    assert [kind for kind, _ in await commands(db, run_id)] == ["approve"]


async def test_a_long_request_fits_80x24_without_colour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key of the prompt stays on screen; a long command scrolls instead of being cut."""
    monkeypatch.setenv("NO_COLOR", "1")
    db = f"{tmp_path}/p.db"
    detail = "\n".join(f"step {i}: make target-{i} VERBOSE=1" for i in range(40))
    run_id = await live_run(db, "asking", _asking(detail=detail))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.no_color
        screen = app.screen
        assert isinstance(screen, PermissionPrompt)
        box = screen.query_one("Vertical")
        assert box.region.right <= SIZE[0] and box.region.bottom <= SIZE[1]
        shown = text(box)
        assert "a allow once · A for the task · r deny · esc later" in shown
        assert "A coding agent asks to use a tool" in shown
        scroll = screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0  # the rest of the command is there, below
        await pilot.press("r")  # the message line shows inside the screen too
        await pilot.pause()
        reason = screen.query_one("#reason")
        assert reason.region.height and reason.region.bottom <= box.region.bottom
        # the border says the confirmation's keys while it asks (`a`, `r` no longer apply)
        assert "ctrl+s confirm · esc back" in text(box) and "r deny" not in text(box)
        await pilot.press("escape")  # back to the prompt's keys
        await pilot.pause()
        assert "a allow once · A for the task · r deny · esc later" in text(box)


async def test_a_request_asked_while_another_s_prompt_is_open_prompts_next(
    tmp_path: Path,
) -> None:
    # (two tasks asked at once: the second was told in a toast, then never prompted; only `g`
    # then enter reached it)
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking())
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PermissionPrompt) and app.screen.permission == PID
        second = ev.PermissionAsked(time.time(), "build-1-p2", "build", 1, "Edit", "src/x.py")
        await _append(db, run_id, [second])
        feed = app.screen.feed
        await until_shown(
            pilot, "the second request", lambda: "build-1-p2" in feed.state.permissions
        )
        assert isinstance(app.screen, PermissionPrompt) and app.screen.permission == PID
        # answered (here, or elsewhere: the engine's answer is what closes the first prompt)
        await _append(db, run_id, [ev.PermissionAnswered(time.time(), PID, True, "ops")])
        await until_shown(
            pilot,
            "the second prompt",
            lambda: (
                isinstance(app.screen, PermissionPrompt) and app.screen.permission == "build-1-p2"
            ),
        )
