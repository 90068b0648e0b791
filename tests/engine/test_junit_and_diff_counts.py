"""JUnit's counts agree with its test cases, and `diff` measures runs and phases as the
performance report does (the time the engine was down left out)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from phasegate.engine.report import make
from phasegate.engine.report.build import performance
from phasegate.engine.report.diff import compare
from phasegate.engine.report.facts import Facts
from phasegate.engine.report.junit import junit
from phasegate.engine.report.measures import metrics
from phasegate.engine.store import MemoryStore
from tests.engine.test_lessons_of_runs_that_went_wrong import T0, Run
from tests.fixtures import load_run, parse_jsonl


async def _facts(run: Run, run_id: str = "r") -> Facts:
    store = MemoryStore()
    await load_run(store, parse_jsonl(run.text(), run_id), run_id)
    return await make.facts_of(store, run_id)


async def test_junit_counts_as_skipped_every_case_it_marks_skipped() -> None:
    """A live run (10a01065): `skipped="1"` beside two `<skipped>` cases (running, pending)."""
    run = Run().attempt("prep", 1, 0, 1)
    run.add(1, "task.ready", task="unit")
    run.add(1, "task.started", task="unit", attempt=1, agent="w", pid=9, pgid=9,
            command="true", proc_started=None)  # fmt: skip
    suite = ET.fromstring(junit(await _facts(run)))
    cases = suite.findall("testcase")
    assert len(cases) == 3 and suite.get("tests") == "3"
    marked = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert marked == ["unit", "pack"]  # (running, pending)
    assert suite.get("skipped") == str(len(marked))
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def _taken_over(seconds_down: float) -> Run:
    run = Run().attempt("prep", 1, 0, 1)
    run.add(1, "task.ready", task="unit")
    run.add(1, "task.started", task="unit", attempt=1, agent="w", pid=9, pgid=9,
            command="true", proc_started=None)  # fmt: skip
    back = 2 + seconds_down
    run.add(back, "run.recovered", by="root", engine_pid=7, last_seen=T0 + 2,
            tasks=[{"task": "unit", "attempt": 1, "action": "rerun", "pids": []}])  # fmt: skip
    run.attempt("unit", 2, back, back + 1).attempt("pack", 1, back + 1, back + 2)
    run.add(back + 2, "phase.finished", phase="p", status="succeeded")
    return run.add(back + 2, "run.finished", status="succeeded", reason="")


def _plain() -> Run:
    run = Run().attempt("prep", 1, 0, 1).attempt("unit", 1, 1, 2).attempt("pack", 1, 2, 3)
    run.add(3, "phase.finished", phase="p", status="succeeded")
    return run.add(3, "run.finished", status="succeeded", reason="")


async def test_diff_leaves_out_the_time_an_engine_was_down_as_the_performance_report_does() -> None:
    """d15e9df5 -> 10a01065 said `4.5s -> 17.4s: +12.9s` (phase p1 16.9 s) where the
    performance report of 10a01065 said 4.5 s (p1 4.0 s), `engine down: not counted`."""
    a, b = await _facts(_plain(), "a"), await _facts(_taken_over(12.9), "b")
    d = compare(a, b)
    perf = performance(b, metrics(b))
    assert d["b"]["duration"] == pytest.approx(perf["duration"]) == pytest.approx(4.0)
    assert d["a"]["duration"] == pytest.approx(3.0)
    assert d["duration_delta"] == pytest.approx(1.0)
    assert d["b"]["engine_down"] == pytest.approx(12.9) and d["a"]["engine_down"] == 0.0
    phases = {p["id"]: p for p in d["phases"]}
    assert phases["p"]["duration_b"] == pytest.approx(perf["phases"][0]["duration"])
    assert phases["p"]["duration_b"] == pytest.approx(4.0)
