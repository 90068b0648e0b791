"""A gate's prompt fits the terminal however many criteria it shows: they scroll, and after
`r` its title, the confirmation, the reason line and its key hints stay on screen (it had a
fixed height of 22 rows: at 80x18 its bottom, the reason line with it, was cut off)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.containers import VerticalScroll

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.gate import GatePrompt

from .helpers import live_run, text

CRITERIA = [
    {"kind": "run", "spec": f"make check-{i}", "passed": True, "detail": "exit 0"}
    for i in range(30)
]


@pytest.mark.parametrize("rows", [24, 18])
async def test_the_gate_prompt_stays_inside_the_screen(tmp_path: Path, rows: int) -> None:
    db, now = f"{tmp_path}/g.db", time.time()
    started = ev.RunStarted(
        now - 60,
        "fits",
        "fits",
        "x.yaml",
        phases=[{"id": "p"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "review", "after": "p", "approval": "manual", "quorum": 1}],
    )
    events = [
        started,
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 60, "t", 1, "a", 1, 1),
        ev.TaskFinished(now - 50, "t", 1, "succeeded", 0),
        ev.GateOpened(now - 40, "review", 1, CRITERIA, "ab" * 32, "manual"),
    ]
    run_id = await live_run(db, "fits", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(80, rows)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GatePrompt)
        await pilot.press("r")
        await pilot.pause()
        box = screen.query_one("Vertical")
        assert box.region.y >= 1 and box.region.bottom <= rows - 1, box.region
        lines = text(box).splitlines()
        assert "Gate review waits for a decision" in lines[0]
        assert "ctrl+s confirm · esc back" in lines[-1]
        said, reason = screen.query_one("#confirm"), screen.query_one("#reason")
        assert "Reject gate review?" in text(said) and reason.has_focus
        for line in (said, reason):
            assert box.region.y < line.region.y and line.region.bottom < box.region.bottom
        scroll = screen.query_one(VerticalScroll)
        assert scroll.region.height >= 1 and scroll.max_scroll_y > 0  # the criteria scroll
