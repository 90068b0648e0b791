"""The research asked as the first phase starts, readable in the dashboard: `enter` on the
phase panel (offered in its footer once there is research) opens each query with its answers,
or the error of one that failed, at 80x24; names and answers are shown as text, not markup."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.research import ResearchScreen
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, dashboard, footer, live_run, run_started, text, until_shown


async def test_enter_on_the_phases_shows_each_querys_answers_or_error(tmp_path: Path) -> None:
    now = time.time()
    answers = [
        ev.ResearchFinished(now, "past", "history", "flaky", ["r1 lesson [red]x[/red]", "r2 y"]),
        ev.ResearchFinished(now, "docs", "rg -i release docs/", "release", ["docs/a.md: x"]),
        ev.ResearchFinished(
            now + 30, "[b]hang[/b]", "sleep 60", "q", [], "`sleep 60` did not finish"
        ),
    ]
    events = [run_started(now, "rs", ["t"]), *answers, ev.PhaseStarted(now + 30, "p")]
    db = str(tmp_path / "r.db")
    run_id = await live_run(db, "rs", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        panel = screen.query_one(PhasePanel)
        await until_shown(pilot, "the research line", lambda: "research past" in text(panel))
        panel.focus()
        await until_shown(pilot, "enter in the footer", lambda: "Research" in footer(app, 80))
        await pilot.press("enter")
        await until_shown(
            pilot,
            "the research screen",
            lambda: isinstance(app.screen, ResearchScreen) and app.screen.is_mounted,
        )
        box = app.screen.query_one("VerticalScroll")
        assert "Research (3, 1 failed)" in text(box)
        shown = "\n".join(line.strip() for line in text(box.query_one("Static")).splitlines())
        assert "past (flaky)  2 answers" in shown
        assert "· r1 lesson [red]x[/red]" in shown and "· r2 y" in shown
        assert "[b]hang[/b] (q)  0 answers" in shown
        assert "asked: sleep 60" not in shown  # (the error names the command)
        assert "failed: `sleep 60` did not finish" in shown
        assert "docs (release)  1 answer\nasked: rg -i release docs/\n· docs/a.md: x" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ResearchScreen)


async def test_a_run_without_research_offers_no_research_key(tmp_path: Path) -> None:
    now = time.time()
    db = str(tmp_path / "r.db")
    run_id = await live_run(
        db, "plain", [run_started(now, "plain", ["t"]), ev.PhaseStarted(now, "p")]
    )
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        panel = screen.query_one(PhasePanel)
        panel.focus()
        await pilot.pause()
        assert "Research" not in footer(app, 80)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ResearchScreen)
