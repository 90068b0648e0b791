"""A coding agent's permission prompt fits the terminal once `r` asks for a denial's message
(a tester's bug: at 80x20 the box grew past the screen, its title, key hints and the message
line cut off): the request scrolls in the rows the rest of the box leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.containers import VerticalScroll

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.permission import PermissionPrompt

from .helpers import live_run, text
from .test_permission_prompt import _asking

LONG = "\n".join(f"step {i}: make target-{i} VERBOSE=1" for i in range(40))


@pytest.mark.parametrize("rows", [24, pytest.param(20, marks=pytest.mark.slow), 16])
async def test_the_deny_box_stays_inside_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking(detail=LONG))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(80, rows)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PermissionPrompt)
        await pilot.press("r")
        await pilot.pause()
        box = screen.query_one("Vertical")
        # the whole box on screen, and the screen's first and last rows (the run's header
        # and the keys) left to the dashboard
        assert box.region.y >= 1 and box.region.bottom <= rows - 1, box.region
        lines = text(box).splitlines()
        assert "A coding agent asks to use a tool" in lines[0]
        assert "ctrl+s confirm · esc back" in lines[-1]
        said, reason = screen.query_one("#confirm"), screen.query_one("#reason")
        assert "Deny Bash for task build? ctrl+s confirms · esc goes back" in text(said)
        assert "why deny it? the agent reads this" in text(reason) and reason.has_focus
        for line in (said, reason):  # inside the box, above its bottom border
            assert box.region.y < line.region.y and line.region.bottom < box.region.bottom
        scroll = screen.query_one(VerticalScroll)
        assert scroll.region.height >= 1 and scroll.max_scroll_y > 0  # the rest scrolls
        await pilot.press(*"use make clean", "escape")  # back: the prompt's keys again
        await pilot.pause()
        assert "a allow once · A for the task · r deny · esc later" in text(box).splitlines()[-1]


async def test_the_box_follows_a_smaller_terminal(
    tmp_path: Path,
) -> None:
    db = f"{tmp_path}/p.db"
    run_id = await live_run(db, "asking", _asking(detail=LONG))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PermissionPrompt)
        tall = screen.query_one(VerticalScroll).region.height
        await pilot.resize_terminal(80, 18)
        await pilot.press("r")
        await pilot.pause()
        box = screen.query_one("Vertical")
        assert box.region.y >= 1 and box.region.bottom <= 17, box.region
        assert "ctrl+s confirm · esc back" in text(box).splitlines()[-1]
        assert screen.query_one(VerticalScroll).region.height < tall
