"""A task ends when its main process exits (DECISIONS): one that exits 0 within its timeout
succeeds, however long the leftovers it left take to be stopped (here a child that ignores
TERM, stopped only after the plan's kill_grace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model.statuses import RunStatus, TaskStatus

from .helpers import run_plan

PLAN = """
name: drain
kill_grace: 3
agents: {a: {slots: 1}}
phases:
  - id: p1
    tasks:
      - {id: d1, run: "(trap '' TERM; sleep 30) & echo main done", agent: a, timeout: 1}
"""


@pytest.mark.slow  # (it waits for processes: seconds)
async def test_cleanup_of_leftovers_is_not_a_timeout(tmp_path: Path) -> None:
    state, store = await run_plan(tmp_path, PLAN)
    d1 = state.tasks["d1"]
    assert (d1.status, d1.exit_code, d1.reason) == (TaskStatus.SUCCEEDED, 0, "")
    assert state.status is RunStatus.SUCCEEDED
    lines = [o.text for o in await store.read_output("run1", "d1")]
    assert "main done" in lines
