"""`phasegate diff RUN_A` alone compares RUN_A with the run of its plan before it (it took the
newest other run); the lessons of a run whose engine died say it was interrupted (they said
`the run went as planned`); the diff's text says the engine's down time is not counted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.reports import diff_runs, report_run
from tests.engine.test_lessons_of_runs_that_went_wrong import T0, Run
from tests.fixtures import load_run, parse_jsonl


def _ended(shift: float, plan: str = "wrong") -> Run:
    run = Run()
    run.rows[0][2]["plan_name"] = plan
    run.rows = [(ts + shift, name, data) for ts, name, data in run.rows]
    run.attempt("prep", 1, shift, shift + 1).attempt("unit", 1, shift + 1, shift + 2)
    run.attempt("pack", 1, shift + 2, shift + 3)
    run.add(shift + 3, "phase.finished", phase="p", status="succeeded")
    return run.add(shift + 3, "run.finished", status="succeeded", reason="")


def _db(tmp_path: Path, runs: dict[str, Run]) -> str:
    db = str(tmp_path / "x.db")

    async def fill() -> None:
        store = await SQLiteStore.open(db)
        try:
            for run_id, run in runs.items():
                await load_run(store, parse_jsonl(run.text(), run_id), run_id)
        finally:
            await store.close()

    asyncio.run(fill())
    return db


def _pair(db: str, *refs: str) -> tuple[str, str]:
    d = json.loads(asyncio.run(diff_runs(db, refs[0], refs[1] if len(refs) > 1 else None, True)))
    return d["a"]["run"], d["b"]["run"]


def test_diff_of_one_run_compares_it_with_the_run_of_its_plan_before_it(tmp_path: Path) -> None:
    """Runs r1, r2, r3 of one plan (and one of another plan after them): `diff r2` compared r2
    with r3, the newest, not with r1, the run before it, as `diff last last` advises."""
    db = _db(
        tmp_path,
        {"r1": _ended(0), "r2": _ended(10), "r3": _ended(20), "o1": _ended(30, "other")},
    )
    assert _pair(db, "r2") == ("r1", "r2")
    assert _pair(db, "r3") == ("r2", "r3")
    assert _pair(db, "r1") == ("r1", "r2")  # (its plan's first run: the run after it)
    assert _pair(db, "r3", "r1") == ("r3", "r1")  # (both named: as given)


def test_the_lessons_of_a_run_whose_engine_died_say_it_was_interrupted(tmp_path: Path) -> None:
    """Run 10a01065 while interrupted: its lessons said `the run went as planned`."""
    run = Run().attempt("prep", 1, 0, 1)
    run.add(1, "task.ready", task="unit")
    run.add(1, "task.started", task="unit", attempt=1, agent="w", pid=9, pgid=9,
            command="true", proc_started=None)  # fmt: skip
    db = _db(tmp_path, {"r": run})  # (no engine holds it: interrupted)
    text = asyncio.run(report_run(db, "r", "lessons", "md", None))
    assert text.startswith("# Run r of wrong: interrupted"), text
    assert "went as planned" not in text
    assert "| interrupted | run | its engine stopped before the run ended; 2 tasks not " in text
    assert "phasegate resume r" in text
    data = json.loads(asyncio.run(report_run(db, "r", "lessons", "json", None)))
    assert [x["kind"] for x in data["lessons"]["findings"]] == ["interrupted"]


def test_diff_says_the_time_an_engine_was_down_is_not_counted(tmp_path: Path) -> None:
    """`d15e9df5 (succeeded, 4.5s) -> 10a01065 (succeeded, 17.4s): +12.9s`: the second run's
    engine was down 12.9 s, time its performance report leaves out."""
    taken = Run().attempt("prep", 1, 0, 1)
    taken.add(1, "task.ready", task="unit")
    taken.add(1, "task.started", task="unit", attempt=1, agent="w", pid=9, pgid=9,
              command="true", proc_started=None)  # fmt: skip
    taken.add(15, "run.recovered", by="root", engine_pid=7, last_seen=T0 + 2,
              tasks=[{"task": "unit", "attempt": 1, "action": "rerun", "pids": []}])  # fmt: skip
    taken.attempt("unit", 2, 15, 16).attempt("pack", 1, 16, 17)
    taken.add(17, "phase.finished", phase="p", status="succeeded")
    taken.add(17, "run.finished", status="succeeded", reason="")
    (tmp_path / "one").mkdir()
    db = _db(tmp_path / "one", {"r1": _ended(0), "r2": taken})
    lines = asyncio.run(diff_runs(db, "r1", "r2", False)).splitlines()
    assert lines[0] == "r1 (succeeded, 3.0s) -> r2 (succeeded, 4.0s): +1.0s", lines
    assert lines[1] == "engine down (not counted, as in the performance report): 13.0s in r2"
    (tmp_path / "two").mkdir()
    db = _db(tmp_path / "two", {"r1": _ended(0), "r2": _ended(10)})
    assert "engine down" not in asyncio.run(diff_runs(db, "r1", "r2", False))
