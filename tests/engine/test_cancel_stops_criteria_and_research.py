"""A cancel (Ctrl-C, SIGTERM, `phasegate cancel`) stops a gate's criterion or a research query
under way at once, its command killed: the run waited out their timeouts (a criterion may take
minutes), and a gate whose criterion then finished opened for approval after the cancel."""

from __future__ import annotations

import uuid
from pathlib import Path

import psutil

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import RunStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import operated, until


def _running(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if marker in " ".join(p.info["cmdline"] or ()):
            found.append(p)
    return found


async def test_a_cancel_stops_a_gates_criterion_under_way(tmp_path: Path) -> None:
    marker = f"{30 + uuid.uuid4().int % 1000 / 1000:.3f}"  # (this test's own `sleep`)
    plan = f"""
    name: slowgate
    agents: {{w: {{}}}}
    phases:
      - id: one
        tasks: [{{id: a, run: "true", agent: w}}]
      - id: two
        tasks: [{{id: b, run: "true", agent: w}}]
    gates:
      - {{id: check, after: one, approval: manual, criteria: [{{run: "sleep {marker}"}}]}}
    """

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: bool(_running(f"sleep {marker}")))
        runner.cancel("enough")

    state, store = await operated(tmp_path, plan, operator)
    assert state.status is RunStatus.CANCELLED
    events = [e for _, e in await store.read_events("run1")]
    opened = [e for e in events if isinstance(e, ev.GateOpened)]  # (undecided: nobody asked)
    assert [e.approval for e in opened] == ["auto"], opened
    assert opened[0].criteria[0]["detail"].startswith("was stopped:"), opened
    assert _running(f"sleep {marker}") == []  # (its command was killed)


async def test_a_cancel_stops_a_research_query_under_way(tmp_path: Path) -> None:
    marker = f"{30 + uuid.uuid4().int % 1000 / 1000:.3f}"
    plan = f"""
    name: slowresearch
    agents: {{w: {{}}}}
    research:
      - {{id: q, query: x, provider: {{run: "sleep {marker}"}}}}
    phases:
      - id: one
        tasks: [{{id: a, run: "true", agent: w}}]
    """

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: bool(_running(f"sleep {marker}")))
        runner.cancel("enough")

    state, store = await operated(tmp_path, plan, operator)
    assert state.status is RunStatus.CANCELLED
    events = [e for _, e in await store.read_events("run1")]
    assert not any(isinstance(e, ev.ResearchFinished) for e in events)  # (not waited out)
    assert _running(f"sleep {marker}") == []
