"""Command-line views a person reads (issue 19): `show` marks a cut reason, `logs` marks where
a failed attempt ends, `runs` right after `--detach` shows what is known."""

from __future__ import annotations

import json
import time
from pathlib import Path

import msgspec

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


def test_an_interrupted_run_ends_at_its_last_sign_of_life_in_runs_and_show(
    pg: Run, cli_env: dict[str, str]
) -> None:
    """The engine died 4 s into the run: its last heartbeat was at 1 s (counts: two running),
    task a finished at 4 s. Both listings say 4 s and 1 succeeded, 1 running, and keep saying
    so: the time does not grow with the clock, nor stop at the heartbeat."""
    import asyncio

    from phasegate.engine.model import events as ev
    from phasegate.engine.store import SQLiteStore
    from phasegate.engine.store.base import RunRow

    t0 = time.time() - 3600  # an hour ago: a clock-based figure would say 1h

    async def write() -> None:
        store = await SQLiteStore.open(cli_env["PHASEGATE_DB"])
        try:
            gone = 4_194_303  # no such process (pid_max is at most 4,194,304)
            row = RunRow("dead0001", "two", "plan.yaml", "running", t0, started_at=t0)
            await store.create_run(
                msgspec.structs.replace(
                    row,
                    counts={"running": 2},
                    engine_pid=gone,
                    engine_started=t0,
                    heartbeat_at=t0 + 1,
                )
            )
            tasks = [
                {"id": t, "phase": "p", "agent": "a", "capability": None, "needs": []}
                for t in ("a", "b")
            ]
            events: list[ev.Event] = [
                ev.RunStarted(t0, "dead0001", "two", "plan.yaml", [{"id": "p"}], tasks, []),
                ev.PhaseStarted(t0, "p"),
                ev.TaskStarted(t0, "a", 1, "a", 101, 101),
                ev.TaskStarted(t0, "b", 1, "a", 102, 102),
                ev.TaskFinished(t0 + 4, "a", 1, "succeeded", 0),
            ]
            await store.write_batch("dead0001", list(enumerate(events, 1)))
        finally:
            await store.close()

    asyncio.run(write())
    listing = pg("runs").stdout.splitlines()[1]
    assert "interrupted" in listing and " 4.0s " in listing, listing
    assert "1 succeeded, 1 running" in listing, listing
    as_json = json.loads(pg("runs", "--json").stdout)["runs"][0]
    assert as_json["duration"] == 4.0 and as_json["counts"] == {"succeeded": 1, "running": 1}
    shown = pg("show", "dead0001").stdout
    assert "duration 4.0s" in shown and "1 succeeded, 1 running" in shown, shown
    assert json.loads(pg("show", "dead0001", "--json").stdout)["duration"] == 4.0
