"""`n` in the dashboard of a run that has ended: the note is recorded (as `phasegate note` does
after the end), never ignored, so that the note's text is not read as keys instead."""

from __future__ import annotations

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.ask import AskScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, until_shown


async def _notes(db: str, run_id: str) -> list[ev.RunNoted]:
    store = await SQLiteStore.open(db)
    try:
        events = await store.read_events(run_id)
    finally:
        await store.close()
    return [e for _, e in events if isinstance(e, ev.RunNoted)]


async def test_n_on_an_ended_run_records_the_note(finished_run: tuple[str, str]) -> None:
    db, run_id = finished_run
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        sort_before = screen.query_one(TaskTable).sort_key
        assert screen.check_action("note", ()) is True  # (offered in the footer, not dimmed)
        await pilot.press("n")
        assert isinstance(app.screen, AskScreen)
        # the text goes into the prompt: none of its letters acts as a key (s sorts, f follows)
        await pilot.press(*"[bold]fast[/] fix", "enter")
        await until_shown(pilot, "the note's answer", lambda: bool(app._notifications))
        assert isinstance(app.screen, DashboardScreen)
        assert screen.query_one(TaskTable).sort_key == sort_before
        said = [n.message for n in app._notifications]
        assert any(f"run {run_id}: noted" in m for m in said), said
    notes = await _notes(db, run_id)
    assert [n.text for n in notes] == ["[bold]fast[/] fix"]


async def test_an_empty_note_records_nothing(finished_run: tuple[str, str]) -> None:
    db, run_id = finished_run
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("n", "space", "enter")
        await pilot.pause()
    assert await _notes(db, run_id) == []
