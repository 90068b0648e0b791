"""The phase panel calls a phase late by its own forecast length against its timebox, and says so
in words (`~3.8s!`) that survive NO_COLOR, red in colour.

Regressions: a pending phase `ship` (1 s of work, 2 s timebox) after a running one showed
`-/2s ~4.7s` in red: its time left, counted from now, held the phase before it; with NO_COLOR,
`1.2s/3s ~3.8s` of a phase that will overrun had no marker at all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rich.style import Style

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.phases import PhasePanel

from .helpers import SIZE, dashboard, live_run, text, until_shown


async def _two_phases(db: str, now: float) -> str:
    """`build` (3 s timebox) has run 1.2 s, 3.8 s forecast left; `ship` (2 s timebox) then takes
    0.9 s: it ends 4.7 s from now."""
    events: list[ev.Event] = [
        ev.RunStarted(
            now - 1.2,
            "late",
            "late-plan",
            "x.yaml",
            phases=[{"id": "build", "timebox": 3.0}, {"id": "ship", "timebox": 2.0}],
            tasks=[
                {"id": "compile", "phase": "build", "agent": "a", "needs": []},
                {"id": "push", "phase": "ship", "agent": "a", "needs": ["compile"]},
            ],
            agents=[{"id": "a", "slots": 1}],
        ),
        ev.PhaseStarted(now - 1.2, "build"),
        ev.TaskStarted(now - 1.2, "compile", 1, "a", 1, 1),
        ev.ForecastUpdated(now, 4.7, phases={"build": 3.8, "ship": 4.7}),
    ]
    return await live_run(db, "late", events)


def _row(panel: PhasePanel, phase: str) -> str:
    return next(line for line in text(panel).splitlines() if f" {phase} " in line)


@pytest.mark.parametrize("colour", [True, False])
async def test_only_the_phase_that_overruns_its_own_timebox_is_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, colour: bool
) -> None:
    if not colour:
        monkeypatch.setenv("NO_COLOR", "1")
    db, now = f"{tmp_path}/l.db", time.time()
    run_id = await _two_phases(db, now)
    app = PhasegateApp(db, run_id, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        panel = screen.query_one(PhasePanel)
        await until_shown(pilot, "the forecast", lambda: "~4.7s" in text(panel))
        build, ship = _row(panel, "build"), _row(panel, "ship")
        assert "1.2s/3s" in build and "~3.8s!" in build, build  # (1.2 + 3.8 > 3)
        assert "-/2s" in ship and "~4.7s" in ship and "!" not in ship, ship  # (0.9 < 2)
        drawn = panel.render_lines(panel.region.reset_offset)
        red = {seg.text.strip() for strip in drawn for seg in strip if _red(seg.style)}
        assert "~4.7s" not in red, red
        if colour:
            assert "~3.8s!" in red, red


def _red(style: Style | None) -> bool:
    """Drawn in the theme's red (Textual turns `red` into its own shade)."""
    rgb = style.color.triplet if style is not None and style.color is not None else None
    return rgb is not None and rgb.red > 150 and rgb.green < 100
