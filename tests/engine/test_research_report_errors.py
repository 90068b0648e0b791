"""The coordination report's research section says why a query has no answers (its error), as
the dashboard and `run --headless` do; a count of one reads `1 answer`."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.report import make
from phasegate.engine.report.render import markdown
from phasegate.engine.store.memory import MemoryStore

from .helpers import ScriptedExecutor, run_plan

PLAN = """
name: asked
agents: {w: {}}
research:
  - {id: one, query: "only", provider: {run: "echo {query}"}}
  - {id: down, query: x, provider: {run: "sh -c 'echo no such index >&2; exit 4'"}}
phases:
  - id: p
    tasks: [{id: a, run: "true"}]
"""


async def test_a_failed_research_query_shows_its_error_in_the_report(tmp_path: Path) -> None:
    _, store = await run_plan(tmp_path, PLAN, ScriptedExecutor(), MemoryStore())
    text = markdown(await make.run_report(store, "run1", ("coordination",)))
    section = text.split("### Research", 1)[1].splitlines()
    assert "- one (only): 1 answer" in section
    assert "  - only" in section
    down = next(line for line in section if line.startswith("- down"))
    assert down.startswith("- down (x): 0 answers; failed: ")
    assert "exited 4" in down and "no such index" in down
