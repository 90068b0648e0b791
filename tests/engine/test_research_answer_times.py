"""Each research answer carries the time it came: a query that ran into its time limit is not
recorded (and printed by `run --headless`) as if it had answered when the queries were asked."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store.memory import MemoryStore

from .helpers import ScriptedExecutor, run_plan

PLAN = """
name: asked
agents: {w: {}}
research:
  - {id: quick, query: "anything"}
  - {id: hang, query: x, provider: {run: "sleep 30"}, timeout: 1}
phases:
  - id: one
    tasks: [{id: a, run: "true"}]
"""


async def test_an_answer_is_stamped_when_it_came_not_when_it_was_asked(tmp_path: Path) -> None:
    state, store = await run_plan(tmp_path, PLAN, ScriptedExecutor(), MemoryStore())
    assert "did not finish" in state.research["hang"]["error"]
    events = [e for _, e in await store.read_events("run1")]
    answers = {e.research: e for e in events if isinstance(e, ev.ResearchFinished)}
    # the hanging query answered no sooner than its 1 s limit after the quick one
    assert answers["hang"].ts - answers["quick"].ts >= 0.9
