"""The palette's "Amend the plan" with an editor that cannot be started ($EDITOR names no
program, or a file that is not executable) says so in a toast, naming the editor and what
chooses it, and the dashboard goes on; nothing is sent.

Regression: `EDITOR=nosuch-editor`, then "Amend the plan": the dashboard died with Textual's
traceback (`FileNotFoundError: 'nosuch-editor'`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen

from .helpers import SIZE, commands, dashboard, live_run, run_started, until_shown

PLAN = """name: steer
agents: {a: {}}
phases:
  - id: p
    tasks: [{id: t, run: "true"}]
"""


async def _run(db: str) -> str:
    now = time.time()
    events = [run_started(now - 5, "am", ["t"], agent="a"), ev.PhaseStarted(now - 5, "p")]
    run_id = await live_run(db, "am", events)
    store = await SQLiteStore.open(db)
    try:
        await store.save_plan(run_id, PLAN, {})
    finally:
        await store.close()
    return run_id


@pytest.mark.parametrize("kind", ["missing", "not executable"])
async def test_an_editor_that_cannot_start_is_named_and_the_dashboard_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "missing":
        name = "nosuch-editor"
    else:
        plain = tmp_path / "plain-editor"
        plain.write_text("#!/bin/sh\n")
        plain.chmod(0o644)
        name = str(plain)
    monkeypatch.setenv("EDITOR", name)
    monkeypatch.delenv("VISUAL", raising=False)
    db = f"{tmp_path}/a.db"
    run_id = await _run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Amend the plan")
        await pilot.pause(0.3)
        await pilot.press("enter")

        def said() -> list[str]:
            return [n.message for n in app._notifications]

        await until_shown(
            pilot, "a toast about the editor", lambda: any("editor" in m for m in said())
        )
        told = [m for m in said() if "editor" in m]
        assert len(told) == 1, told
        assert "could not be started" in told[0], told
        assert name in told[0], told
        assert "$VISUAL" in told[0] and "$EDITOR" in told[0], told
        assert "nothing sent" in told[0], told
        # the dashboard goes on: its keys still work
        assert app.is_running and isinstance(app.screen, DashboardScreen)
        await pilot.press("question_mark")
        await until_shown(pilot, "the help", lambda: app.screen is not screen)
    assert await commands(db, run_id) == []
