"""Reading a task's test results (issue 19, point 1): JUnit XML as the common runners write it,
the summary-line fallback, and what a gate's `tests:` criterion says of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.plan import model as m
from phasegate.engine.plan.model import Results
from phasegate.engine.run.gates import judge_tests
from phasegate.engine.run.results import Summary, junit, read

SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="a" tests="3">
    <testcase classname="com.x.ATest" name="ok" time="0.5"/>
    <testcase classname="com.x.ATest" name="bad" time="0.1">
      <failure message="expected 1 but was 2" type="AssertionError">stack...</failure>
    </testcase>
    <testcase classname="com.x.ATest" name="later"><skipped/></testcase>
  </testsuite>
  <testsuite name="b" tests="1">
    <testcase classname="com.x.BTest" name="boom"><error>NullPointerException
  at B.java:3</error></testcase>
  </testsuite>
</testsuites>
"""


def test_junit_counts_every_case_and_names_the_failing_ones(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(SUREFIRE)
    found = junit(str(path))
    assert found.counts == {"passed": 1, "failed": 1, "skipped": 1, "errors": 1}
    assert found.failures == [
        {"name": "com.x.ATest::bad", "message": "expected 1 but was 2", "kind": "failed"},
        {"name": "com.x.BTest::boom", "message": "NullPointerException", "kind": "errors"},
    ]
    assert found.cases[0] == ["com.x.ATest::ok", "passed", 0.5]


def test_a_file_with_only_the_suites_totals_still_counts(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text('<testsuite tests="10" failures="2" errors="1" skipped="3"/>')
    assert junit(str(path)).counts == {"passed": 4, "failed": 2, "skipped": 3, "errors": 1}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (None, "r.xml was not written"),
        ("PASSED 3", "r.xml is not XML"),
        ("<html><body/></html>", "r.xml is not JUnit XML (its root is <html>)"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(tmp_path: Path, text: str | None, why: str) -> None:
    path = tmp_path / "r.xml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        junit(str(path))


def test_the_summary_line_is_the_fallback_when_the_file_is_missing(tmp_path: Path) -> None:
    spec = Results(junit="r.xml", summary=r"(?P<passed>\d+) passed(?:, (?P<failed>\d+) failed)?")
    summary = Summary(str(spec.summary))
    for line in ["collecting...", "== 3 passed, 1 failed in 0.2s ==", "== 12 passed in 1s =="]:
        summary.line(line)
    found = read(spec, str(tmp_path), summary)
    assert found.source == "summary" and found.counts["passed"] == 12  # the last line that matched
    assert found.counts["failed"] == 0
    assert found.error == "r.xml was not written; counts read from the summary line"
    nothing = read(spec, str(tmp_path), Summary(str(spec.summary)))
    assert nothing.source == "" and "no output line matched the summary" in nothing.error


def test_the_tests_criterion_checks_failed_and_passed_bounds() -> None:
    results = {
        "source": "junit",
        "passed": 1107,
        "failed": 1,
        "errors": 1,
        "skipped": 12,
        "failures": [{"name": "a::x"}, {"name": "b::y"}],
    }
    strict = judge_tests(m.TestsCriterion(of="t"), results)
    assert strict["passed"] is False
    assert strict["detail"] == "1107 passed, 2 failed, 12 skipped: a::x, b::y"
    lenient = judge_tests(m.TestsCriterion(of="t", max_failed=2, min_passed=1000), results)
    assert lenient["passed"] is True and lenient["spec"] == "t (failed <= 2 and passed >= 1000)"
    too_few = judge_tests(m.TestsCriterion(of="t", max_failed=None, min_passed=2000), results)
    assert too_few["passed"] is False
    unread = {"source": "", "error": "r.xml was not written"}
    missing = judge_tests(m.TestsCriterion(of="t"), unread)
    assert missing == {
        "kind": "tests",
        "spec": "t (failed <= 0)",
        "passed": False,
        "detail": "no test results of t: r.xml was not written",
    }
