"""While the plan's research queries are asked, the run says so (it waits for them, up to the
longest command's timeout): headless printed nothing for that time."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.logline import log_line
from phasegate.engine.model import events as ev

from .helpers import run_plan


async def test_the_run_says_it_asks_its_research_queries_and_for_how_long(tmp_path: Path) -> None:
    _, store = await run_plan(
        tmp_path,
        """
        name: asks
        agents: {w: {}}
        research:
          - {id: earlier, query: flaky}
          - {id: docs, query: x, provider: {run: "echo found {query}"}, timeout: 12s}
        phases:
          - id: one
            tasks: [{id: a, run: "true", agent: w}]
        """,
    )
    events = [e for _, e in await store.read_events("run1")]
    started = [e for e in events if isinstance(e, ev.ResearchStarted)]
    assert len(started) == 1 and started[0].queries == ["earlier", "docs"]
    finished = [i for i, e in enumerate(events) if isinstance(e, ev.ResearchFinished)]
    assert events.index(started[0]) < min(finished)
    said = log_line(started[0], "run1")
    assert said is not None and said.endswith("research: asking 2 queries (12.0s at most)"), said
