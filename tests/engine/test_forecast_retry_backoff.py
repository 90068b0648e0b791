"""Regression: a task that failed and waits for its retry was forecast as one more attempt
starting at once, its backoff left out: `forecast ends in ~900ms` with 1.9 s left."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.watch.forecast import seconds_left

from .monitored import monitored

PLAN = """
name: retried
agents: {w: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: d, run: "true", agent: w, estimate: 1}
      - {id: e, run: "true", agent: w, estimate: 1, retries: 2, backoff: 1s}
"""


def test_a_failed_task_s_backoff_is_forecast_before_its_next_attempt(tmp_path: Path) -> None:
    m, host, _ = monitored(tmp_path, PLAN)
    host.emit(ev.TaskStarted(100.0, "d", 1, "w", 1, 1))
    host.emit(ev.TaskStarted(100.0, "e", 1, "w", 2, 2))
    host.emit(ev.TaskFinished(100.1, "e", 1, "failed", 1, reason="exited with code 1"))
    host.emit(ev.TaskRetrying(100.1, "e", 2, 1.0, "exited with code 1"))
    m.tick(100.2, 2)
    # e waits 0.9 s more for its second attempt, which takes 1 s (d ends before)
    assert seconds_left(host.state, 100.2) == pytest.approx(1.9)
    assert seconds_left(host.state, 100.2, "p") == pytest.approx(1.9)
    host.emit(ev.TaskStarted(101.1, "e", 2, "w", 3, 3))  # its backoff has passed: it runs
    host.emit(ev.TaskFinished(101.6, "e", 2, "failed", 1, reason="exited with code 1"))
    host.emit(ev.TaskRetrying(101.6, "e", 3, 2.0, "exited with code 1"))  # doubled
    m.tick(102.0, 2)
    assert seconds_left(host.state, 102.0) == pytest.approx(1.6 + 1.0)
