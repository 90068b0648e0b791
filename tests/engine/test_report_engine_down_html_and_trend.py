"""A crash's engine-down time in the HTML report and in the trend over runs: the HTML duration
card said `1m50s` alone where the Markdown summary says `Duration 1m50s (of which 1m28s engine
down)`, and the trend counted the dead engine's time in the run's duration (a crashed run
looked five times slower than the same work the run before), where the performance report
leaves it out."""

from __future__ import annotations

import json
import re
from typing import Any

from phasegate.engine.report import make
from phasegate.engine.store import MemoryStore
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0

START = {
    "run_id": "r", "plan_name": "p", "plan_path": "/plans/p.yaml",
    "phases": [{"id": "build", "title": "", "timebox": None}],
    "tasks": [{"id": "a", "phase": "build", "agent": "w", "needs": [], "estimate": 10}],
    "agents": [{"id": "w", "slots": 1, "capabilities": []}],
    "gates": [],
}  # fmt: skip


def _recording(run_id: str, at: float, crash: bool) -> str:
    """Task a runs 0-20 s; with `crash` the engine is last seen at 12 s, taken over at 100 s
    (88 s down), and a runs again 100-120 s."""
    started = {"task": "a", "attempt": 1, "agent": "w", "pid": 9, "pgid": 9, "command": "",
               "proc_started": None}  # fmt: skip
    rows: list[tuple[float, str, dict[str, Any]]] = [
        (0, "run.started", {**START, "run_id": run_id}),
        (0, "phase.started", {"phase": "build"}),
        (0, "task.started", started),
    ]
    end, attempt = 20.0, 1
    if crash:
        rows.append((100, "run.recovered", {"by": "bob", "engine_pid": 42, "last_seen": at + 12,
                     "tasks": [{"task": "a", "attempt": 1, "action": "rerun"}]}))  # fmt: skip
        rows.append((100, "task.started", {**started, "attempt": 2}))
        end, attempt = 120.0, 2
    rows += [
        (end, "task.finished", {"task": "a", "attempt": attempt, "status": "succeeded",
                                "exit_code": 0}),
        (end, "phase.finished", {"phase": "build", "status": "succeeded"}),
        (end, "run.finished", {"status": "succeeded", "reason": ""}),
    ]  # fmt: skip
    return "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": at + ts, "v": 1, "data": data})
        for i, (ts, name, data) in enumerate(rows)
    )


async def _two_runs(first_crashed: bool) -> tuple[MemoryStore, str]:
    """Two runs of plan p, an hour apart; returns the store and the second run's id."""
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording("one", T0, first_crashed)))
    await load_run(store, parse_jsonl(_recording("two", T0 + 3600, False)))
    return store, "two"


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


async def test_the_html_duration_card_says_the_engine_down_part() -> None:
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording("c", T0, crash=True)))
    report = await make.run_report(store, "c", ("performance",))
    assert "Duration 2m00s (of which 1m28s engine down)" in make.render(report, "md")
    card = _text(make.render(report, "html"))
    assert "duration 2m00s (of which 1m28s engine down) 1 succeeded" in card
    # a run whose engine never died says nothing of it
    store = MemoryStore()
    await load_run(store, parse_jsonl(_recording("d", T0, crash=False)))
    report = await make.run_report(store, "d", ("performance",))
    page = _text(make.render(report, "html"))
    assert "duration 20.0s 1 succeeded" in page and "engine down" not in page


async def test_the_trend_leaves_the_engine_down_time_out_as_the_performance_report() -> None:
    store, second = await _two_runs(first_crashed=True)
    crashed = await make.run_report(store, "one", ("performance",))
    report = await make.run_report(store, second, ("performance",))
    earlier, this = report["trend"]
    assert earlier["run"] == "one" and this["run"] == "two"
    # the crashed run: 120 s start to end, 88 s of it with no engine: 32 s, as its own
    # performance report counts it; the part left out given beside it
    assert earlier["duration"] == crashed["performance"]["duration"] == 32.0
    assert earlier["engine_down"] == crashed["summary"]["engine_down"] == 88.0
    assert this["duration"] == 20.0 and this["engine_down"] == 0.0
    # the HTML trend shows the durations, and says what they leave out
    page = _text(make.render(report, "html"))
    trend = page.split("The plan across its runs", 1)[1]
    assert "one succeeded 32.0s" in trend and "two succeeded 20.0s" in trend
    assert "Durations leave out the time no engine ran the run" in trend
    assert "1m28s of run one" in trend


async def test_a_trend_without_a_crash_says_nothing_of_it() -> None:
    store, second = await _two_runs(first_crashed=False)
    report = await make.run_report(store, second, ("performance",))
    assert [p["duration"] for p in report["trend"]] == [20.0, 20.0]
    assert "Durations leave out" not in make.render(report, "html")
