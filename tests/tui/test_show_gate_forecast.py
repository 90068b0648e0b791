"""`show` while a manual gate waits for people says so, and what is left once it is decided,
as the dashboard's header does: it said `forecast ends in ~0ms ()` for a gate after the last
phase, and counted the time left down while nothing could run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.tui.cli.views import show_run

from .helpers import live_run


def events_of(now: float, phases: list[str], gate_after: str) -> list[ev.Event]:
    """A live run whose phase `p1` ended 30 s ago into the manual gate `review`, open since."""
    left = {p: 90.0 for p in phases if p != "p1"}
    return [
        ev.RunStarted(
            now - 60,
            "gated",
            "gated-plan",
            "x.yaml",
            phases=[{"id": p, "title": ""} for p in phases],
            tasks=[{"id": f"t-{p}", "phase": p, "agent": "a", "needs": []} for p in phases],
            agents=[{"id": "a", "slots": 1}],
            gates=[{"id": "review", "after": gate_after, "approval": "manual", "approvers": []}],
        ),
        ev.PhaseStarted(now - 60, "p1"),
        ev.TaskStarted(now - 60, "t-p1", 1, "a", 1, 1),
        ev.TaskFinished(now - 30, "t-p1", 1, "succeeded", 0),
        ev.PhaseFinished(now - 30, "p1", "succeeded"),
        ev.GateOpened(now - 30, "review", 1, [], "ab" * 32, "manual"),
        ev.ForecastUpdated(now - 30, max(left.values(), default=0.0), 0, left, 0),
    ]


async def test_show_says_the_run_waits_for_the_gate_after_its_last_phase(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    run_id = await live_run(db, "gated", events_of(time.time(), ["p1"], "p1"))
    shown = await show_run(db, run_id, as_json=False)
    (ahead,) = [x for x in shown.splitlines() if x.startswith("  forecast ")]
    assert ahead.startswith("  forecast waiting for gate review since "), ahead
    assert ahead.endswith(", then the run ends"), ahead
    data = json.loads(await show_run(db, run_id, as_json=True))
    assert data["forecast"]["gate"] == "review"
    assert data["forecast"]["phases"] == {}


async def test_show_says_what_is_left_once_the_gate_is_decided(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    run_id = await live_run(db, "gated", events_of(time.time(), ["p1", "p2"], "p1"))
    shown = await show_run(db, run_id, as_json=False)
    (ahead,) = [x for x in shown.splitlines() if x.startswith("  forecast ")]
    assert ahead.startswith("  forecast waiting for gate review since "), ahead
    # (the clock stopped when the gate opened: nothing of p2 has run since)
    assert ahead.endswith(", then ~1m30s left (p2 ~1m30s)"), ahead
    data = json.loads(await show_run(db, run_id, as_json=True))
    assert data["forecast"]["gate"] == "review"
    assert data["forecast"]["eta_s"] == 90.0
    assert data["forecast"]["phases"] == {"p2": 90.0}
