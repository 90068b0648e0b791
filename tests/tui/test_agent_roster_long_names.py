"""At 80x24 the agent roster keeps each agent's state and slots whole, however long its name:
the name is cut (with `…`), and what the agent does after it.

Regression: an agent named with 40 characters showed `agent-with-a-really-long-name-th… …`,
its state (busy, idle) and slots cut off, and the other agents' with it."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.widgets.agents import AgentRoster

from .helpers import SIZE, dashboard, live_run, text, until_shown

LONG = "agent-with-a-really-long-name-that-is-40"


async def test_state_and_slots_stay_whole_beside_a_long_agent_name(tmp_path: Path) -> None:
    assert len(LONG) == 40
    db = f"{tmp_path}/a.db"
    now = time.time()
    started = ev.RunStarted(
        now - 60,
        "ag",
        "ag-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}],
        tasks=[
            {"id": "build", "phase": "p", "agent": LONG, "needs": []},
            {"id": "lint", "phase": "p", "agent": "b", "needs": []},
        ],
        agents=[{"id": LONG, "slots": 2}, {"id": "b", "slots": 1}],
    )
    events: list[ev.Event] = [
        started,
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 50, "build", 1, LONG, 1, 1),
    ]
    run_id = await live_run(db, "ag", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        roster = screen.query_one(AgentRoster)
        await until_shown(pilot, "the roster", lambda: "busy" in text(roster))
        await pilot.pause()
        assert roster.region.right <= SIZE[0]
        lines = [line.strip("│ ") for line in text(roster).splitlines()[1:-1]]
        long_line = next(line for line in lines if line.startswith("agent-with"))
        words = long_line.split()
        assert words[0].endswith("…") and LONG.startswith(words[0][:-1]), long_line
        assert words[1:3] == ["busy", "1/2"], long_line  # (whole, in their columns)
        assert "build" in long_line, long_line  # (what it does: room is left for it)
        short_line = next(line for line in lines if line.startswith("b "))
        assert short_line.split()[:3] == ["b", "idle", "0/1"], short_line
