"""Regression: a risk rule's `pause` action pauses one phase, not the run. `show` said the run was
`running` with no sign of it, the dashboard's `p` paused the whole run instead of resuming the
phase, its phase panel cut the `paused` mark off a long title and its header kept a frozen ETA."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from phasegate.engine.logline import log_line
from phasegate.engine.model import events as ev
from phasegate.tui.cli.views import show_run
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, commands, dashboard, live_run, text

RULE = "risk:task_overrun"
WHY = "task slow: running 999ms, past its estimate of 500ms"


def events_of(now: float) -> list[ev.Event]:
    """A live run whose first phase a risk rule paused once its running task ended: nothing runs,
    `next` waits for the phase to be resumed."""
    started = ev.RunStarted(
        now - 60,
        "held",
        "held-plan",
        "x.yaml",
        phases=[{"id": "build", "title": "Build everything and more"}, {"id": "ship"}],
        tasks=[
            {"id": "slow", "phase": "build", "agent": "a", "needs": []},
            {"id": "next", "phase": "build", "agent": "a", "needs": ["slow"]},
            {"id": "deploy", "phase": "ship", "agent": "a", "needs": ["next"]},
        ],
        agents=[{"id": "a", "slots": 2}],
    )
    return [
        started,
        ev.PhaseStarted(now - 60, "build"),
        ev.TaskStarted(now - 60, "slow", 1, "a", 1, 1),
        ev.RunPaused(now - 59, RULE, WHY, "build"),
        ev.TaskFinished(now - 57, "slow", 1, "succeeded", 0),
        # the time left holds while the phase is paused (`still`)
        ev.ForecastUpdated(now - 57, 95.0, 0, {"build": 60.0, "ship": 95.0}, 0, True),
    ]


def test_the_log_line_says_the_phase_was_paused_not_the_run() -> None:
    line = log_line(ev.RunPaused(0.0, RULE, WHY, "build"), "r1")
    assert "phase build paused by risk:task_overrun" in line and "run paused" not in line
    assert "run paused by ann" in log_line(ev.RunPaused(0.0, "ann"), "r1")


async def test_show_says_which_phase_is_paused_by_whom_and_why(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    run_id = await live_run(db, "held", events_of(time.time()))
    shown = await show_run(db, run_id, as_json=False)
    head = shown.splitlines()
    assert head[0].endswith("running, phase build paused"), head[0]
    (line,) = [x for x in head if x.startswith("  paused ")]
    assert f"phase build, by {RULE}: {WHY}" in line and f"phasegate resume {run_id}" in line
    (ahead,) = [x for x in head if x.startswith("  forecast ")]
    assert ahead.startswith("  forecast paused: ~1m35s left once it goes on"), ahead

    data = json.loads(await show_run(db, run_id, as_json=True))
    assert data["status"] == "running"
    phases = {p["id"]: p for p in data["phases"]}
    assert phases["build"]["paused"] == {"by": RULE, "reason": WHY}
    assert phases["ship"]["paused"] is None
    assert data["forecast"]["paused"] is True


@pytest.mark.parametrize("size", [SIZE, (60, 20)])
async def test_the_phase_panel_shows_the_phase_paused_by_whom(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db = str(tmp_path / "d.db")
    run_id = await live_run(db, "held", events_of(time.time()))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=size) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()
    build = next(x for x in lines if "Build" in x)
    assert build.rstrip(" │").endswith("paused"), lines  # (not cut off with the long title)
    under = lines[lines.index(build) + 1]
    assert "⏸ risk:task_o" in under and under.rstrip(" │").endswith("p resumes"), lines


@pytest.mark.parametrize("size", [SIZE, (60, 20)])
async def test_the_header_says_the_eta_is_paused_instead_of_freezing_it(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db = str(tmp_path / "h.db")
    run_id = await live_run(db, "held", events_of(time.time()))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=size) as pilot:
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
    assert "ETA paused" in header and "1m35s" not in header, (
        header
    )  # (its frozen ETA: not the elapsed time, 1m00s)
    assert "✓1" in header, header  # (the counts still fit)


async def test_p_resumes_the_phase_paused_alone(tmp_path: Path) -> None:
    """As `phasegate resume RUN` does; `p` paused the whole run instead."""
    db = str(tmp_path / "p.db")
    run_id = await live_run(db, "held", events_of(time.time()))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        offered = [b.binding.action for b in screen.active_bindings.values() if b.enabled]
        assert "resume_run" in offered and "pause" not in offered  # the footer: `p Resume`
        await pilot.press("p")
        await pilot.pause()
    assert await commands(db, run_id) == [("resume", {"phase": "build"})]


async def test_without_colour_the_paused_phase_stands_out_as_needing_a_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.geometry import Region

    from phasegate.tui.dashboard.widgets.style import use_colour

    monkeypatch.setenv("NO_COLOR", "1")
    db = str(tmp_path / "n.db")
    run_id = await live_run(db, "held", events_of(time.time()))
    app = PhasegateApp(db, run_id)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await dashboard(app, pilot)
            for widget in (screen.query_one(PhasePanel), screen.query_one(RunHeader)):
                width, height = widget.outer_size
                marks = [
                    seg
                    for strip in widget.render_lines(Region(0, 0, width, height))
                    for seg in strip
                    if "paused" in seg.text
                ]
                assert marks and all(s.style and s.style.reverse for s in marks), marks
    finally:
        use_colour(True)  # (the widgets' styles are the module's: colour again for the rest)
