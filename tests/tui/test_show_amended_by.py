"""`show` says who proposed an amendment and who approved it. Regression: it credited the
change to its approver (`amended change-1 (plan v2) by haalice`, hacarol proposed it)."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.views import show_run
from tests.fixtures import Recording, load_run

PHASES = [{"id": "p"}]
TASKS = [{"id": "t", "phase": "p", "agent": "a", "needs": []}]
AGENTS = [{"id": "a", "slots": 1}]
DIFF = [{"what": "task", "id": "u", "change": "added"}]


async def test_show_names_the_proposer_and_the_approver_of_an_amendment(db_path: Path) -> None:
    events: list[ev.Event] = [
        ev.RunStarted(1.0, "r", "p", "p.yaml", PHASES, TASKS, AGENTS, user="haalice"),
        ev.ChangeProposed(2.0, "change-1", "hacarol", 7, DIFF),
        ev.GateVoted(3.0, "change-1", "approve", "haalice", 8, command=1),
        ev.ChangeClosed(3.1, "change-1", "passed", "approved by haalice"),
        ev.PlanAmended(3.2, "change-1", 2, "haalice", "x", DIFF, PHASES, TASKS, [], AGENTS),
    ]
    db_path.parent.mkdir(mode=0o700, exist_ok=True)
    store = await SQLiteStore.open(str(db_path))
    try:
        await load_run(store, Recording(list(enumerate(events, 1))))
    finally:
        await store.close()
    shown = await show_run(str(db_path), "r", False)
    line = next(x for x in shown.splitlines() if "amended" in x)
    assert "change-1 (plan v2) by hacarol (approved by haalice)" in line, line
