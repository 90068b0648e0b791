"""Command-line views a person reads (issue 19): `show` marks a cut reason, `logs` marks where
a failed attempt ends, `runs` right after `--detach` shows what is known."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .conftest import Run

RETRIED = """
name: retried
agents: {a: {}}
phases:
  - id: p
    tasks:
      - id: t
        run: echo "try $PHASEGATE_ATTEMPT"; test "$PHASEGATE_ATTEMPT" -ge 2
        retries: 1
        backoff: 0
"""


def test_logs_mark_where_a_failed_attempt_ends(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(RETRIED)
    assert pg("run", "plan.yaml", "--headless").returncode == 0
    logs = pg("logs", "last", "t")
    assert logs.returncode == 0
    assert logs.stdout == "try 1\n── attempt 1 failed: exited with code 1 ──\ntry 2\n"
    every = pg("logs", "last")
    assert "t | ── attempt 1 failed: exited with code 1 ──" in every.stdout


def test_show_cuts_a_long_reason_with_an_ellipsis() -> None:
    from phasegate.tui.cli.views import shorten

    assert shorten("x" * 100, 60) == "x" * 59 + "…"
    assert shorten("short\nreason", 60) == "short reason"


def test_runs_right_after_detach_shows_elapsed_time_and_counts(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: slow\nagents: {a: {slots: 2}}\n"
        "phases: [{id: p, tasks: [{id: t, run: 'sleep 30'}, {id: u, run: 'sleep 30'}]}]\n"
    )
    assert pg("run", "plan.yaml", "--detach").returncode == 0
    try:
        deadline = time.monotonic() + 20
        row: dict[str, object] = {}
        while time.monotonic() < deadline:
            row = json.loads(pg("runs", "--json").stdout)["runs"][0]
            counts = row.get("counts") or {}
            if isinstance(counts, dict) and sum(counts.values()) == 2:
                break
            time.sleep(0.2)
        assert row["counts"] and sum(row["counts"].values()) == 2  # type: ignore[union-attr]
        time.sleep(1.2)
        listing = pg("runs").stdout.splitlines()[1]
        assert " 0ms " not in listing and "slow" in listing
        assert "▶" in listing or "running" in listing
    finally:
        pg("stop", "last")
