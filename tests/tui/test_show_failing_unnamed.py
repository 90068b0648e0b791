"""`show` under a task's test counts: failing tests that a summary line counts but cannot name
are said as `N failing (names unknown)`, never `... and N more` after nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.tui.cli import views

from .conftest import Run

T0 = 1_700_000_000.0


def _state(failures: list[dict[str, str]], failed: int) -> str:
    started = ev.RunStarted(
        T0, "r", "p", "p.yaml", [{"id": "p"}], [{"id": "t", "phase": "p", "agent": "m"}], []
    )
    results = ev.TaskResults(
        T0 + 1, "t", 1, passed=5, failed=failed, failures=failures, source="summary"
    )
    return views.tests_text(project([started, results]))


def test_failing_tests_a_summary_counts_are_not_said_to_be_more() -> None:
    shown = _state([], 2)
    assert "tests of t: 5 passed, 2 failed, 0 errors, 0 skipped (summary)" in shown
    assert "  2 failing (names unknown)" in shown.splitlines()
    assert "more" not in shown


def test_failing_tests_beyond_those_named_are_still_more() -> None:
    shown = _state([{"name": "a::b", "message": "boom", "kind": "failed"}], 3)
    assert shown.splitlines()[1:] == ["  ✗ a::b: boom", "  ... and 2 more failing"]


@pytest.mark.slow
def test_show_says_how_many_fail_when_only_a_summary_counts_them(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: sum\nagents: {m: {}}\nphases:\n  - id: p\n    tasks:\n"
        "      - id: t\n"
        "        run: \"echo '== 5 passed, 2 failed in 1.0s =='\"\n"
        "        results:\n"
        "          summary: '(?P<passed>\\d+) passed, (?P<failed>\\d+) failed'\n"
    )
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stdout + done.stderr
    shown = pg("show", "last").stdout
    assert "tests of t: 5 passed, 2 failed, 0 errors, 0 skipped (summary)" in shown
    assert "  2 failing (names unknown)" in shown
    assert "more failing" not in shown
