"""A risk said again while it holds (its severity grew, the figure it tells doubled) kept the
time of its last saying as `raised_at`: `phasegate risks` said it started later than it did.
It keeps the time it was first raised; one cleared and raised later starts anew."""

from __future__ import annotations

import json
from pathlib import Path

from phasegate.engine.model.fold import project
from phasegate.engine.model.statuses import Severity
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.control import risks
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
KEY = "overrun:t"

START = {
    "run_id": "r1", "plan_name": "p", "plan_path": "/plans/p.yaml",
    "phases": [{"id": "one", "title": "", "timebox": None}],
    "tasks": [{"id": "t", "phase": "one", "agent": "a", "needs": [], "estimate": 1.0}],
    "agents": [{"id": "a", "slots": 1, "capabilities": []}], "gates": [],
}  # fmt: skip


def _recording(*said: tuple[str, float, str, str]) -> str:
    """A run that started at T0, then each (event type, seconds after T0, severity, message) of
    the risk KEY: raised (said) or cleared."""
    rows: list[tuple[str, float, dict[str, object]]] = [("run.started", 0, START)]
    for name, ts, severity, message in said:
        data: dict[str, object] = {"key": KEY, "reason": message}
        if name == "risk.raised":
            data = {"key": KEY, "rule": "task_overrun", "severity": severity,
                    "subject": "task t", "message": message, "action": "look"}  # fmt: skip
        rows.append((name, ts, data))
    return "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts, "v": 2 if i == 0 else 1, "data": d})
        for i, (name, ts, d) in enumerate(rows)
    )


GROWN = (("risk.raised", 10, "medium", "running 2.0s"), ("risk.raised", 20, "high", "running 4.0s"))


def test_a_risk_said_again_keeps_its_first_time_and_one_raised_anew_starts_again() -> None:
    state = project(e for _, e in parse_jsonl(_recording(*GROWN), "r1").events)
    risk = state.risks[KEY]
    assert risk.raised_at == T0 + 10 and risk.open  # (first raised)
    assert (risk.severity, risk.message) == (Severity.HIGH, "running 4.0s")  # (what it says now)
    again = (("risk.cleared", 30, "", "it ended"), ("risk.raised", 40, "medium", "running 1.5s"))
    state = project(e for _, e in parse_jsonl(_recording(*GROWN, *again), "r1").events)
    assert state.risks[KEY].raised_at == T0 + 40 and state.risks[KEY].open


async def test_phasegate_risks_says_when_it_was_first_raised(tmp_path: Path) -> None:
    db = str(tmp_path / "pg.db")
    store = await SQLiteStore.open(db)
    try:
        await load_run(store, parse_jsonl(_recording(*GROWN), "r1"))
    finally:
        await store.close()
    (found,) = json.loads(await risks(db, "r1", as_json=True, every=False))["risks"]
    assert found["raised_at"] == T0 + 10 and found["severity"] == "high"
