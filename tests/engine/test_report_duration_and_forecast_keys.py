"""The report's JSON a script reads: the performance report's `forecasts` always has the same
keys, and the summary's Duration tells the time the run's engine was down apart from the rest
(as the performance report leaves it out of its own duration)."""

from __future__ import annotations

import json
from typing import Any

from phasegate.engine.report import make
from phasegate.engine.store import MemoryStore
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0

# what `report --json` gives under performance.forecasts, whatever the run recorded:
#   recorded    int: the forecasts compared with the run's end (0: none)
#   mean_error  seconds or null: their mean distance from the actual end
#   worst       seconds or null: the farthest one
#   note        "" when some were compared, else why none was
FORECAST_KEYS = ["mean_error", "note", "recorded", "worst"]

START = {
    "run_id": "r", "plan_name": "p", "plan_path": "/plans/p.yaml",
    "phases": [{"id": "build", "title": "", "timebox": None}],
    "tasks": [{"id": "a", "phase": "build", "agent": "w", "needs": [], "estimate": 10},
              {"id": "b", "phase": "build", "agent": "w", "needs": ["a"], "estimate": 10}],
    "agents": [{"id": "w", "slots": 1, "capabilities": []}],
    "gates": [],
}  # fmt: skip


def _started(task: str, n: int) -> dict[str, Any]:
    return {"task": task, "attempt": n, "agent": "w", "pid": 9, "pgid": 9, "command": "",
            "proc_started": None}  # fmt: skip


def _ok(task: str, n: int) -> dict[str, Any]:
    return {"task": task, "attempt": n, "status": "succeeded", "exit_code": 0}


def _recording(run_id: str, forecasts: bool, crash: bool, ends: bool = True) -> str:
    """a 0-10 s; b starts at 11 s; with `crash` the engine is last seen at 12 s and taken over
    at 100 s, b runs again 100-110 s (else b ends at 21 s); `forecasts`: one at 0 s, 100 s
    left."""
    rows: list[tuple[float, str, dict[str, Any]]] = [
        (0, "run.started", {**START, "run_id": run_id}),
        (0, "phase.started", {"phase": "build"}),
        (0, "task.started", _started("a", 1)),
    ]
    if forecasts:
        rows.append((0, "forecast.updated", {"eta": 100.0, "guessed": 0, "phases": {}}))
    rows += [(10, "task.finished", _ok("a", 1)), (11, "task.started", _started("b", 1))]
    end = 21.0
    if crash:
        rows.append((100, "run.recovered", {"by": "bob", "engine_pid": 42, "last_seen": T0 + 12,
                     "tasks": [{"task": "b", "attempt": 1, "action": "rerun"}]}))  # fmt: skip
        rows.append((100, "task.started", _started("b", 2)))
        end = 110.0
    if ends:
        rows += [
            (end, "task.finished", _ok("b", 2 if crash else 1)),
            (end, "phase.finished", {"phase": "build", "status": "succeeded"}),
            (end, "run.finished", {"status": "succeeded", "reason": ""}),
        ]
    return "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts, "v": 1, "data": data})
        for i, (ts, name, data) in enumerate(rows)
    )


async def _json_report(run_id: str, **how: bool) -> dict[str, Any]:
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording(run_id, **how), run_id))
    report = await make.run_report(store, run_id, ("performance",))
    return dict(json.loads(make.render(report, "json")))


async def test_the_forecasts_keys_are_the_same_whatever_the_run_recorded() -> None:
    """They were {recorded, mean_error, worst} after forecasts, {recorded, note} without: a
    script reading `mean_error` broke on a run that recorded none."""
    compared = (await _json_report("one", forecasts=True, crash=False))["performance"]
    none = (await _json_report("two", forecasts=False, crash=False))["performance"]
    going = (await _json_report("three", forecasts=True, crash=False, ends=False))["performance"]
    for fc in (compared["forecasts"], none["forecasts"], going["forecasts"]):
        assert sorted(fc) == FORECAST_KEYS
    assert compared["forecasts"] == {"recorded": 1, "mean_error": 79.0, "worst": 79.0, "note": ""}
    assert none["forecasts"] == {
        "recorded": 0, "mean_error": None, "worst": None, "note": "no forecasts recorded"
    }  # fmt: skip
    # (a run still going has no end to compare its forecasts with: not "no forecasts")
    assert going["forecasts"]["recorded"] == 0 and going["forecasts"]["mean_error"] is None
    assert "not ended" in going["forecasts"]["note"]


async def test_the_summary_s_duration_tells_the_engine_s_death_apart() -> None:
    """The summary said `Duration 1m50s` for a run whose engine was dead 1m28s of it, where
    the performance report said `Duration 22.0s; ... the engine was down 1m28s more`."""
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording("c", forecasts=False, crash=True), "c"))
    report = await make.run_report(store, "c", ("performance",))
    summary, perf = report["summary"], report["performance"]
    assert summary["duration"] == 110.0 and summary["engine_down"] == 88.0
    assert summary["duration"] - summary["engine_down"] == perf["duration"] == 22.0
    assert perf["engine_down"] == summary["engine_down"]
    text = make.render(report, "md")
    assert "Duration 1m50s (of which 1m28s engine down); tasks: 2 succeeded" in text
    assert "the engine was down 1m28s more (not counted)" in text
    # a run whose engine never died says nothing of it
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording("d", forecasts=False, crash=False), "d"))
    report = await make.run_report(store, "d", ("performance",))
    assert report["summary"]["engine_down"] == 0.0
    assert "Duration 21.0s; tasks: 2 succeeded" in make.render(report, "md")
