"""An amendment at its change gate in the dashboard (issue 20): it prompts (and rings) whoever
may decide it, with the difference and the impact on the forecast; `a` approves once confirmed,
`r` rejects with a reason; someone else is only told."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.gate import ChangePrompt

from .helpers import SIZE, commands, live_run, run_started, text, until_shown

ME = current_identity().user
DIFF = [{"change": "added", "what": "task", "id": "three", "phase": "two"}]
IMPACT = {
    "before": {"eta": 60.0, "critical_path": ["one", "two"]},
    "after": {"eta": 90.0, "critical_path": ["one", "two", "three"]},
    "earlier": [],
    "later": [],
}


def _proposed(approvers: list[str]) -> list[ev.Event]:
    now = time.time()
    return [
        run_started(now, "amending", ["two"], phase="two", user=ME),
        ev.ChangeProposed(now, "change-1", ME, 0, DIFF, IMPACT, approvers),
    ]


def _on_top(app: PhasegateApp, kind: type[Screen[Any]]) -> bool:
    """Is a `kind` screen on top, composed and mounted (what it shows is there)?"""
    return isinstance(app.screen, kind) and app.screen.is_mounted


def _listed(app: PhasegateApp) -> str:
    """What the top screen's tables show."""
    return "\n".join(text(w) for w in app.screen.query("DataTable"))


async def test_a_change_prompts_with_its_difference_and_impact_and_a_approves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHASEGATE_QUICK_APPROVE", raising=False)
    db = f"{tmp_path}/c.db"
    run_id = await live_run(db, "amending", _proposed([]))
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the change's prompt", lambda: _on_top(app, ChangePrompt))
        assert isinstance(app.screen, ChangePrompt)
        shown = "\n".join(text(w) for w in app.screen.query("Vertical, Static"))
        assert "Change change-1 to the plan waits for a decision" in shown
        assert "+ task three added (phase two)" in shown
        assert "critical path after:  one -> two -> three" in shown
        await pilot.press("a")  # asks to confirm: nothing sent yet
        await pilot.pause()
        assert isinstance(app.screen, ChangePrompt) and app.screen.asking
        await pilot.press("ctrl+s")
        await until_shown(
            pilot, "the prompt to close", lambda: isinstance(app.screen, DashboardScreen)
        )
        assert isinstance(app.screen, DashboardScreen)
    assert len(rang) == 1
    assert await commands(db, run_id) == [("approve", {"gate": "change-1"})]


async def test_a_change_for_other_approvers_prompts_nobody_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/c.db"
    run_id = await live_run(db, "amending", _proposed(["somebody-else"]))
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(  # (someone else is only told)
            pilot,
            "the note that the change waits for its approvers",
            lambda: any("waits for its approvers" in n.message for n in app._notifications),
        )
        await pilot.pause(0.3)  # (a few more drains: no prompt, no bell for them)
        assert isinstance(app.screen, DashboardScreen) and rang == []


async def test_the_gates_list_shows_a_change_and_enter_opens_its_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/c.db"
    run_id = await live_run(db, "amending", _proposed([]))
    app = PhasegateApp(db, run_id)
    monkeypatch.setattr(app, "bell", lambda: None)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the change's prompt", lambda: _on_top(app, ChangePrompt))
        await pilot.press("escape")  # later: the prompt closes
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("g")
        await until_shown(pilot, "the change in the gates list", lambda: "change-1" in _listed(app))
        listed = _listed(app)
        assert "change-1" in listed and "the plan" in listed and "open" in listed
        await pilot.press("enter")
        await until_shown(
            pilot,
            "the change's prompt",
            lambda: _on_top(app, ChangePrompt) and getattr(app.screen, "gate", "") == "change-1",
        )
        assert isinstance(app.screen, ChangePrompt) and app.screen.gate == "change-1"


async def test_a_change_decided_before_the_dashboard_opened_is_history_not_news(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (attached after it was approved, the dashboard said it waited for its approvers, and
    # its toasts covered a live gate's prompt)
    db = f"{tmp_path}/c.db"
    decided = [*_proposed(["somebody-else"]), ev.ChangeClosed(time.time(), "change-1", "passed")]
    run_id = await live_run(db, "amending", decided)
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(
            pilot, "the run", lambda: app.screen.query("TaskTable").first().row_count > 0
        )
        for _ in range(5):  # (a few drains of the feed)
            await pilot.pause(0.05)
        said = [n.message for n in app._notifications]
        assert not any("change-1" in m for m in said), said
        assert isinstance(app.screen, DashboardScreen) and rang == []


async def test_a_change_approved_too_late_says_it_was_not_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: the approver's dashboard said "approval of change change-1 sent" and nothing
    # more when the engine then refused it (the run had moved on)
    db = f"{tmp_path}/c.db"
    run_id = await live_run(db, "amending", _proposed(["somebody-else"]))
    app = PhasegateApp(db, run_id)
    monkeypatch.setattr(app, "bell", lambda: None)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(
            pilot, "the run", lambda: app.screen.query("TaskTable").first().row_count > 0
        )
        from phasegate.engine.store import SQLiteStore

        store = await SQLiteStore.open(db)
        try:
            seq = (await store.read_events(run_id))[-1][0]
            why = "the run has moved on: task 'two' has finished"
            closed = ev.ChangeClosed(time.time(), "change-1", "refused", why)
            await store.write_batch(run_id, [(seq + 1, closed)])
        finally:
            await store.close()
        await until_shown(
            pilot,
            "the toast that the change was not applied",
            lambda: any(f"change-1 not applied: {why}" in n.message for n in app._notifications),
        )
