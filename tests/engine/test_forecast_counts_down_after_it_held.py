"""Regression: a forecast recorded as holding (`still`: a task near its estimate is given a
second at least) froze the ETA in front ends once the time left moved again, as a plain
countdown (never "moved" against the held value): `ETA 5.8s` for three seconds, and a phase
projected past its timebox that ended a second inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.watch.forecast import seconds_left

from .monitored import monitored

PLAN = """
name: held
agents: {w: {slots: 1}}
phases:
  - id: p
    tasks:
      - {id: a, run: "true", agent: w, estimate: 2}
      - {id: b, run: "true", agent: w, estimate: 3, needs: [a]}
"""


def test_the_eta_counts_down_again_once_a_held_forecast_moves(tmp_path: Path) -> None:
    m, host, _ = monitored(tmp_path, PLAN)
    host.emit(ev.TaskStarted(100.0, "a", 1, "w", 1, 1))
    for now in (101.0, 102.0, 103.0):  # a nears and passes its 2 s: a second at least left
        m.tick(now, 2)
    assert host.state.forecast["still"]  # (the time left held: 1 s of a, then b's 3)
    assert seconds_left(host.state, 103.0) == pytest.approx(4.0)
    host.emit(ev.TaskFinished(103.5, "a", 1, "succeeded", 0))
    host.emit(ev.TaskStarted(103.5, "b", 1, "w", 2, 2))
    for now in (104.0, 105.0):
        m.tick(now, 2)
    # what front ends show: b has 1.5 s of its 3 left (it was 4.0, held, whatever the clock)
    assert seconds_left(host.state, 105.0) == pytest.approx(1.5)
    assert seconds_left(host.state, 105.0, "p") == pytest.approx(1.5)
    assert seconds_left(host.state, 106.0) == pytest.approx(0.5)  # and it counts down
