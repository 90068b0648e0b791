"""Test results people can read (issue 19, point 1), as a user meets them: a task's JUnit file
becomes counts and failing tests in `show`, `show --json`, the task table and pane, the QA
report and `report --format junit`; a gate's `tests:` criterion fails on them; a summary line is
the fallback; a criterion naming a task without `results:` is a plan error."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .conftest import Run, show_last
from .helpers import SIZE, dashboard, text, until_shown

SUITE = """
import pytest

def test_ok():
    pass

def test_bad():
    assert 1 == 2

@pytest.mark.skip(reason="later")
def test_later():
    pass
"""

PLAN = f"""
name: res
agents: {{m: {{}}}}
phases:
  - id: p
    tasks:
      - id: unit
        agent: m
        run: "{sys.executable} -m pytest -q -p no:cacheprovider --junitxml=out/j.xml suite"
        results: {{junit: out/j.xml}}
        on_failure: continue
gates:
  - {{id: g, after: p, criteria: [{{tests: {{of: unit, max_failed: 0}}}}], approval: auto}}
"""


def _suite(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_x.py").write_text(SUITE)


@pytest.mark.slow
async def test_a_junit_file_becomes_counts_failing_tests_and_a_gate_that_fails(
    pg: Run, tmp_path: Path
) -> None:
    _suite(tmp_path)
    (tmp_path / "plan.yaml").write_text(PLAN)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 1, done.stderr  # the gate failed on the results
    assert "tests unit (failed <= 0): 1 passed, 1 failed, 1 skipped: suite.test_x::test_bad" in (
        done.stdout + done.stderr
    )
    shown = pg("show", "last").stdout
    assert "tests of unit: 1 passed, 1 failed, 0 errors, 1 skipped (junit)" in shown
    assert "  ✗ suite.test_x::test_bad: assert 1 == 2" in shown
    unit = show_last(pg)["tasks"][0]  # type: ignore[index]
    results = unit["results"]
    assert (results["passed"], results["failed"], results["skipped"]) == (1, 1, 1)
    assert results["failures"] == [
        {"name": "suite.test_x::test_bad", "message": "assert 1 == 2", "kind": "failed"}
    ]
    qa = pg("report", "last", "--kind", "qa").stdout
    assert "| unit | 1 | 1 | 0 | 1 | junit |" in qa
    assert pg("report", "last", "--format", "junit", "-o", "rep").returncode == 0
    suite = ET.parse(next((tmp_path / "rep").glob("*-junit.xml"))).getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert suite.get("tests") == "4" and suite.get("failures") == "2"  # the task, and test_bad
    bad = cases[("unit.suite.test_x", "test_bad")]
    assert bad.find("failure") is not None and bad.find("failure").get("message") == "assert 1 == 2"
    assert cases[("unit.suite.test_x", "test_later")].find("skipped") is not None

    # the dashboard: the task table's tests column, the task pane's failing tests
    db = str(tmp_path / "data" / "phasegate.db")
    app = PhasegateApp(db, str(show_last(pg)["id"]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await until_shown(
            pilot, "the tests column", lambda: "1✓ 1✗ 1⤼" in text(screen.query_one(TaskTable))
        )
        table = text(screen.query_one(TaskTable))
        assert "TESTS" in table and "1✓ 1✗ 1⤼" in table, table
        await pilot.press("enter")
        await until_shown(
            pilot,
            "the task's pane",
            lambda: isinstance(app.screen, TaskScreen) and app.screen.is_mounted,
        )
        assert isinstance(app.screen, TaskScreen)
        details = text(app.screen.query_one("#details"))
        assert "tests 1✓ 1✗ 1⤼ (junit) · failing: suite.test_x::test_bad (assert 1 == 2)" in details


def test_a_summary_line_counts_when_no_file_is_written(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: sum\nagents: {m: {}}\nphases:\n  - id: p\n    tasks:\n"
        "      - id: t\n"
        "        run: \"echo '== 1200 passed, 3 skipped in 9.1s =='\"\n"
        "        results:\n"
        "          junit: none.xml\n"
        "          summary: '(?P<passed>\\d+) passed, (?P<skipped>\\d+) skipped'\n"
        "gates:\n"
        "  - {id: g, after: p, criteria: [{tests: {of: t, min_passed: 1000}}], approval: auto}\n"
    )
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stdout + done.stderr
    results = show_last(pg)["tasks"][0]["results"]  # type: ignore[index]
    assert (results["passed"], results["skipped"], results["source"]) == (1200, 3, "summary")
    assert results["error"] == "none.xml was not written; counts read from the summary line"


def test_a_tests_criterion_must_name_a_task_with_results(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: bad\nagents: {m: {}}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n"
        "gates:\n  - {id: g, after: p, criteria: [{tests: {of: t}}, {tests: {of: nope}}]}\n"
    )
    done = pg("validate", "plan.yaml", "--json")
    assert done.returncode == 2
    messages = [p["message"] for p in json.loads(done.stdout)["files"][0]["problems"]]
    assert any("tests of 't', which declares no `results:`" in m for m in messages), messages
    assert any("tests of 'nope', which is not a task" in m for m in messages), messages
