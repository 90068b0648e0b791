"""Pilot tests of the dashboard's gates: an open gate prompts, approving asks to confirm with a
reason, rejecting asks why, and the header says how long a gate has waited."""

from __future__ import annotations

import time

import pytest
from textual.widgets import DataTable

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, dashboard, live_run, text, until_shown
from .helpers import commands as sent_commands
from .helpers import rows as table_rows


async def _run_with_open_gate(db: str) -> str:
    """A live run whose manual gate `review` waits for a decision."""
    now = time.time()
    started = ev.RunStarted(
        now,
        "gated",
        "gated-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}, {"id": "q"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "review", "after": "p", "approval": "manual", "approvers": [], "quorum": 1}],
    )
    opened = ev.GateOpened(
        now,
        "review",
        1,
        [{"kind": "run", "spec": "[red]pytest[/]", "passed": True, "detail": "exit 0"}],
        "ab" * 32,
        "manual",
    )
    return await live_run(db, "gated", [started, opened])


async def test_an_open_gate_prompts_and_a_approves(finished_run: tuple[str, str]) -> None:
    from phasegate.tui.dashboard.screens.gate import GatePrompt
    from phasegate.tui.dashboard.widgets.phases import PhasePanel

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        shown = " ".join(text(w) for w in app.screen.query("Static"))
        assert "[red]pytest[/]" in shown and "exit 0" in shown  # evidence, markup inert
        await pilot.press("a")  # asks to confirm, a reason optional: nothing sent yet
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and app.screen.asking
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        panel = text(app.screen.query_one(PhasePanel))
        assert "gate review" in panel and "waiting for approval" in panel
    commands = await sent_commands(db, run_id)
    assert [(k, a["gate"], a.get("reason", "")) for k, a in commands] == [("approve", "review", "")]
    # (sent by this test's OS user, as the socket's peer credentials say: helpers.commands)


async def test_r_asks_a_reason_and_rejects_and_g_lists_gates(finished_run: tuple[str, str]) -> None:
    from phasegate.tui.dashboard.screens.gate import GatePrompt, GatesScreen

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # closes without deciding
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("g")
        assert isinstance(app.screen, GatesScreen)
        assert table_rows(app.screen.query_one(DataTable))[0][:3] == ["review", "p", "open"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        await pilot.press("r", "ctrl+s")  # an empty reason is not sent
        assert isinstance(app.screen, GatePrompt)
        await pilot.press(*"flaky", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    expected = {"gate": "review", "reason": "flaky"}
    assert await sent_commands(db, run_id) == [("reject", expected)]


async def test_approving_asks_to_confirm_with_a_reason_and_typed_words_fire_nothing(
    finished_run: tuple[str, str],
) -> None:
    """Regression (issue 19): `a` approved at once, and a word typed into the dashboard ran
    one action per letter. Typing "approve" at the prompt now only fills the reason line."""
    from phasegate.tui.dashboard.screens.gate import GatePrompt

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        await pilot.press(*"approve")
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and app.screen.asking
        await pilot.press("escape")  # back to the prompt's keys, nothing decided
        assert isinstance(app.screen, GatePrompt) and not app.screen.asking
        await pilot.press("a", *"looks good", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press(*"approve")  # on the dashboard: a, r, o, v, e do nothing; p p
        await pilot.pause()
    sent = [(k, a.get("reason")) for k, a in await sent_commands(db, run_id)]
    assert sent[0] == ("approve", "looks good")
    assert [k for k, _ in sent[1:]] == ["pause", "pause"]  # (no engine here applies the first)


async def test_phasegate_quick_approve_approves_at_once(
    finished_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phasegate.tui.dashboard.screens.gate import GatePrompt

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    monkeypatch.setenv("PHASEGATE_QUICK_APPROVE", "1")  # the user's setting: no confirmation
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert [k for k, _ in await sent_commands(db, run_id)] == ["approve"]


async def test_a_gate_reads_pending_then_waiting_for_approval_and_the_header_says_since_when(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now - 700,
        "gw",
        "gw-plan",
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}, {"id": "r"}],
        tasks=[
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
            {"id": "u", "phase": "q", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[
            {"id": "review", "after": "p", "approval": "manual", "quorum": 1},
            {"id": "final", "after": "q", "approval": "manual", "quorum": 1},
        ],
    )
    # forecast 90 s left, made as the gate opened 10 minutes ago: the ETA stays 1m30s after it
    opened = ev.GateOpened(now - 600, "review", 1, [], "ab" * 32, "manual")
    predicted = ev.ForecastUpdated(now - 600, 90.0, 0, {"q": 60.0, "r": 90.0})
    run_id = await live_run(db, "gw", [started, ev.PhaseStarted(now - 700, "p"), opened, predicted])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
        assert "waiting for gate review since 10m" in header
        assert "then ~1m30s" in header and "ETA 0" not in header
        lines = text(screen.query_one(PhasePanel)).splitlines()
        review = next(line for line in lines if "gate review" in line)
        final = next(line for line in lines if "gate final" in line)
        assert "gate review waiting for approval" in review
        assert "pending" in final and "waiting" not in final


async def test_a_gate_never_reached_says_so_once_the_run_has_ended(
    finished_run: tuple[str, str],
) -> None:
    # (a run that failed before its gate: "pending" would say the gate is still to come)
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now - 60,
        "gx",
        "gx-plan",
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}],
        tasks=[
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
            {"id": "u", "phase": "q", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "review", "after": "p", "approval": "manual", "quorum": 1}],
    )
    events: list[ev.Event] = [started, ev.PhaseStarted(now - 59, "p")]
    run_id = await live_run(db, "gx", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        review = _line_of(screen.query_one(PhasePanel), "review")
        assert "pending" in review  # (live: it may still come)
    from phasegate.engine.store import SQLiteStore

    store = await SQLiteStore.open(db)
    try:
        ended = [ev.PhaseFinished(now - 50, "p", "failed"), ev.RunFinished(now - 50, "failed")]
        await store.write_batch(run_id, [(3, ended[0]), (4, ended[1])])
    finally:
        await store.close()
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        review = _line_of(screen.query_one(PhasePanel), "review")
        assert "not reached" in review and "pending" not in review


def _line_of(panel: PhasePanel, word: str) -> str:
    return next(line for line in text(panel).splitlines() if word in line)


async def test_a_gate_prompt_closes_when_the_run_stops_and_g_says_not_decided(
    finished_run: tuple[str, str],
) -> None:
    # (the engine leaves a gate waiting for people open as the run stops: no `gate.closed`)
    from phasegate.engine.store import SQLiteStore
    from phasegate.tui.dashboard.screens.gate import GatePrompt, GatesScreen

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        store = await SQLiteStore.open(db)
        try:
            stopped = ev.RunFinished(time.time(), "cancelled", "stopped by SIGTERM")
            await store.write_batch(run_id, [(3, stopped)])
        finally:
            await store.close()
        await until_shown(
            pilot, "the prompt to close", lambda: isinstance(app.screen, DashboardScreen)
        )
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GatesScreen)
        row = table_rows(app.screen.query_one(DataTable))[0]
        assert row[0] == "review" and str(row[2]) == "not decided"
        await pilot.press("enter")  # (no prompt: nobody can decide it now)
        await pilot.pause()
        assert isinstance(app.screen, GatesScreen)
    assert await sent_commands(db, run_id) == []


async def test_a_refusal_is_told_to_its_sender_only(finished_run: tuple[str, str]) -> None:
    # (another user's refused command toasted in every attached dashboard; an accepted one is
    # news for all)
    import os

    from phasegate.engine.store import SQLiteStore

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        store = await SQLiteStore.open(db)
        try:
            now, me, other = time.time(), os.getuid(), os.getuid() + 4242
            answers = [
                ev.CommandDone(now, 1, "pause", "mallory", False, "mallory may not operate", other),
                ev.CommandDone(now, 2, "note", "carol", True, "note added by carol", other),
                ev.CommandDone(now, 3, "pause", "me", False, "the run is paused already", me),
            ]
            await store.write_batch(run_id, [(3 + i, e) for i, e in enumerate(answers)])
        finally:
            await store.close()

        def said() -> list[str]:
            return [n.message for n in app._notifications]

        await until_shown(pilot, "the answers", lambda: "the run is paused already" in said())
        # (who did it said first: another user's)
        assert "carol: note added by carol" in said() and "mallory may not operate" not in said()
