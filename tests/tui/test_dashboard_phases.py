"""Pilot tests of the dashboard's phase panel: research answers, the forecast's ETA and each
phase's time left, and phases that outnumber the panel."""

from __future__ import annotations

import time

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, dashboard, live_run, text


async def test_research_answers_show_under_the_first_phase(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now,
        "rs",
        "rs-plan",
        "x.yaml",
        phases=[{"id": "init", "title": "Initialisation"}, {"id": "later", "title": "Later"}],
        tasks=[{"id": "t", "phase": "init", "agent": "a"}],
        agents=[{"id": "a", "slots": 1}],
    )
    answers = [
        ev.ResearchFinished(now, "past", "history", "flaky", ["r1 lesson x", "r2 note y"]),
        ev.ResearchFinished(now, "[b]docs[/b]", "rg", "q", [], "`rg` exited 2"),
    ]
    run_id = await live_run(db, "rs", [started, *answers, ev.PhaseStarted(now, "init")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()
        first = next(i for i, line in enumerate(lines) if "Initialisation" in line)
        row = lines[first + 1]
        assert "research past, [b]doc" in row and " 2 " in row and "error" in row  # as text
        assert "Later" in lines[first + 2]


async def test_the_forecast_shows_as_the_runs_eta_and_each_phases_time_left(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now,
        "forecast",
        "forecast-plan",
        "x.yaml",
        phases=[
            {"id": "build", "title": "Build", "timebox": 60.0},
            {"id": "ship", "title": "Ship"},
        ],
        tasks=[
            {"id": "t", "phase": "build", "agent": "a", "needs": []},
            {"id": "u", "phase": "ship", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
    )
    # the engine's forecast: build ends in 90 s (past its 60 s timebox), the run in 10 minutes
    predicted = ev.ForecastUpdated(now, 600.0, 0, {"build": 90.0, "ship": 600.0})
    run_id = await live_run(db, "forecast", [started, ev.PhaseStarted(now, "build"), predicted])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
        assert "ETA 10m00s" in header or "ETA 9m5" in header  # counted down since
        phases = text(screen.query_one(PhasePanel))
        assert "~1m" in phases and ("~9m" in phases or "~10m00s" in phases)


def _many_phases(n: int, gate_after: str | None = None) -> ev.RunStarted:
    return ev.RunStarted(
        time.time(),
        "many",
        "many-plan",
        "x.yaml",
        phases=[{"id": f"p{i}", "title": f"Stage {i}"} for i in range(1, n + 1)],
        tasks=[{"id": f"t{i}", "phase": f"p{i}", "agent": "a"} for i in range(1, n + 1)],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "signoff", "after": gate_after, "approval": "manual", "quorum": 1}]
        if gate_after
        else [],
    )


async def test_the_running_phase_stays_in_sight_when_phases_outnumber_the_panel(
    finished_run: tuple[str, str],
) -> None:
    """At 80x24 the panel has 5 lines: with 6 phases and a gate, the ended phases fold into one
    line once the last phase runs, instead of pushing it out of sight."""
    db, _ = finished_run
    now = time.time()
    events: list[ev.Event] = [_many_phases(6, gate_after="p5")]
    for i in range(1, 6):
        events += [
            ev.PhaseStarted(now, f"p{i}"),
            ev.TaskStarted(now, f"t{i}", 1, "a", 1, 1, "true"),
            ev.TaskFinished(now, f"t{i}", 1, "succeeded", 0),
            ev.PhaseFinished(now, f"p{i}", "succeeded"),
        ]
    events.append(ev.PhaseStarted(now, "p6"))
    run_id = await live_run(db, "many", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()[1:-1]  # inside the border
        assert len(lines) == 5
        assert "3 phases" in lines[0] and "3/3" in lines[0] and "ended" in lines[0]
        assert "Stage 4" in lines[1] and "Stage 5" in lines[2]
        assert "gate signoff" in lines[3]
        assert "▶ Stage 6" in lines[4] and "0/1" in lines[4]


async def test_phases_that_do_not_fit_are_counted_on_the_last_line(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    run_id = await live_run(db, "many", [_many_phases(8), ev.PhaseStarted(time.time(), "p1")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()[1:-1]
        assert "▶ Stage 1" in lines[0] and "Stage 4" in lines[3]
        assert "… 4 more phases" in lines[4]
