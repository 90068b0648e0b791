"""Command-line views a person reads (issue 19): `show` marks a cut reason, `logs` marks where
a failed attempt ends, `runs` right after `--detach` shows what is known."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import msgspec
import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import OutputLine, RunRow

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


SILENT_AND_CAPPED = """
name: silent
output_cap: 1000
agents: {a: {slots: 3}}
phases:
  - id: p
    tasks:
      - {id: capped, run: "seq 1 5000"}
      - {id: slow, run: "sleep 5", timeout: 1}
      - {id: quiet, run: "exit 3"}
"""


def test_logs_say_what_the_output_cap_dropped_and_how_a_silent_attempt_ended(
    pg: Run, tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(SILENT_AND_CAPPED)
    assert pg("run", "plan.yaml", "--headless").returncode == 1
    capped = pg("logs", "last", "capped").stdout.splitlines()
    # 1,000 bytes of `seq` output kept: the lines before are said to be dropped, not hidden
    first = int(capped[1])
    assert capped[0] == (
        f"── {first - 1:,} earlier lines dropped by the output cap (the plan's output_cap) ──"
    )
    assert capped[-1] == "5000" and len(capped) == 5000 - first + 2
    slow = pg("logs", "last", "slow")
    assert slow.stdout == "── attempt 1 timed out: timed out after 1s ──\n"
    quiet = pg("logs", "last", "quiet")
    assert quiet.stdout == "── attempt 1 failed: exited with code 3 ──\n"
    every = pg("logs", "last").stdout
    assert "quiet | ── attempt 1 failed: exited with code 3 ──" in every
    assert "slow | ── attempt 1 timed out: timed out after 1s ──" in every
    assert every.count("──") == 6  # (three notices, each marked once)


def test_a_silent_failed_attempt_is_marked_before_the_next_attempt_s_lines(
    pg: Run, tmp_path: Path
) -> None:
    # (its marker came last, after the lines of the attempt that followed it)
    (tmp_path / "plan.yaml").write_text(
        "name: again\nagents: {a: {}}\nphases:\n  - id: p\n    tasks:\n"
        "      - {id: t, run: 'test \"$PHASEGATE_ATTEMPT\" -ge 2 && echo second',"
        " retries: 1, backoff: 0}\n"
    )
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    assert pg("logs", "last", "t").stdout == (
        "── attempt 1 failed: exited with code 1 ──\nsecond\n"
    )


async def test_a_task_stopped_before_it_ran_has_no_attempt_to_mark(tmp_path: Path) -> None:
    from phasegate.tui.cli.views import print_logs

    from .helpers import run_started

    db = str(tmp_path / "z.db")
    store = await SQLiteStore.open(db)
    try:
        await store.create_run(RunRow("r", "p", "x.yaml", "cancelled", 1.0, finished_at=3.0))
        stopped = ev.TaskFinished(2.0, "w", 0, "cancelled", None, 0, 0, "not needed")
        await store.write_batch("r", [(1, run_started(1.0, "r", ["w"])), (2, stopped)])
    finally:
        await store.close()
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        await print_logs(db, "r", "w", False, None, False)
    assert "attempt 0" not in out.getvalue()


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


def _write_run(db: str, row: RunRow, events: list[ev.Event], output: list[OutputLine]) -> None:
    """A run written straight into the store, as an engine that died would have left it."""

    async def write() -> None:
        store = await SQLiteStore.open(db)
        try:
            await store.create_run(row)
            await store.write_batch(row.id, list(enumerate(events, 1)), output)
        finally:
            await store.close()

    asyncio.run(write())


GONE = 4_194_303  # no such process (pid_max is at most 4,194,304): the engine died
TASKS = [{"id": t, "phase": "p", "agent": "a", "capability": None, "needs": []} for t in "ab"]


def test_an_interrupted_run_ends_at_its_last_sign_of_life_in_runs_and_show(
    pg: Run, cli_env: dict[str, str]
) -> None:
    """The engine died 4 s into the run: its last heartbeat was at 1 s (counts: two running),
    task a finished at 4 s. Both listings say 4 s and 1 succeeded, 1 running, and keep saying
    so: the time does not grow with the clock, nor stop at the heartbeat."""
    t0 = time.time() - 3600  # an hour ago: a clock-based figure would say 1h
    row = RunRow("dead0001", "two", "plan.yaml", "running", t0, started_at=t0)
    row = msgspec.structs.replace(
        row, counts={"running": 2}, engine_pid=GONE, engine_started=t0, heartbeat_at=t0 + 1
    )
    events: list[ev.Event] = [
        ev.RunStarted(t0, "dead0001", "two", "plan.yaml", [{"id": "p"}], TASKS, []),
        ev.PhaseStarted(t0, "p"),
        ev.TaskStarted(t0, "a", 1, "a", 101, 101),
        ev.TaskStarted(t0, "b", 1, "a", 102, 102),
        ev.TaskFinished(t0 + 4, "a", 1, "succeeded", 0),
    ]
    _write_run(cli_env["PHASEGATE_DB"], row, events, [])
    listing = pg("runs").stdout.splitlines()[1]
    assert "interrupted" in listing and " 4.0s " in listing, listing
    assert "1 succeeded, 1 running" in listing, listing
    as_json = json.loads(pg("runs", "--json").stdout)["runs"][0]
    assert as_json["duration"] == 4.0 and as_json["counts"] == {"succeeded": 1, "running": 1}
    shown = pg("show", "dead0001").stdout
    assert "duration 4.0s" in shown and "1 succeeded, 1 running" in shown, shown
    assert json.loads(pg("show", "dead0001", "--json").stdout)["duration"] == 4.0
    qa = pg("report", "dead0001", "--kind", "qa").stdout
    assert qa.startswith("# Run dead0001 of two: interrupted") and "Duration 4.0s" in qa, qa


def test_logs_mark_an_attempt_a_take_over_stopped(pg: Run, cli_env: dict[str, str]) -> None:
    """Attempt 1 of a was in flight when its engine died; the take-over stopped it and ran it
    again, and skipped b. `logs` says where each attempt ended, as for a failed one."""
    t0 = time.time() - 60
    row = RunRow("took0001", "two", "plan.yaml", "succeeded", t0, started_at=t0, finished_at=t0 + 9)
    settled = [
        {"task": "a", "attempt": 1, "action": "rerun", "pids": [101]},
        {"task": "b", "attempt": 1, "action": "skipped", "pids": [102]},
    ]
    events: list[ev.Event] = [
        ev.RunStarted(t0, "took0001", "two", "plan.yaml", [{"id": "p"}], TASKS, []),
        ev.TaskStarted(t0, "a", 1, "a", 101, 101),
        ev.TaskStarted(t0, "b", 1, "a", 102, 102),
        ev.RunRecovered(t0 + 5, "root", 77, t0 + 3, settled),
        ev.TaskStarted(t0 + 5, "a", 2, "a", 103, 103),
        ev.TaskFinished(t0 + 9, "a", 2, "succeeded", 0),
        ev.RunFinished(t0 + 9, "succeeded"),
    ]
    output = [
        OutputLine("took0001", "a", 1, 1, "out", "try 1", t0 + 1),
        OutputLine("took0001", "b", 1, 1, "out", "b once", t0 + 1),
        OutputLine("took0001", "a", 2, 1, "out", "try 2", t0 + 6),
    ]
    _write_run(cli_env["PHASEGATE_DB"], row, events, output)
    stopped = "interrupted: stopped when the engine was taken over"
    assert pg("logs", "took0001", "a").stdout == (
        f"try 1\n── attempt 1 {stopped} (run again) ──\ntry 2\n"
    )
    assert pg("logs", "took0001", "b").stdout == f"b once\n── attempt 1 {stopped} (skipped) ──\n"


def test_a_retried_task_takes_its_newest_attempts_time_in_show_and_reports(
    pg: Run, cli_env: dict[str, str]
) -> None:
    """a failed in 2 s, waited 3 s, passed in 1 s: `show` (text and JSON) and the performance
    report both say 1 s, its newest attempt's time (`show` said 6 s, from the first start)."""
    t0 = time.time() - 60
    row = RunRow("retr0001", "two", "plan.yaml", "succeeded", t0, started_at=t0, finished_at=t0 + 6)
    events: list[ev.Event] = [
        ev.RunStarted(t0, "retr0001", "two", "plan.yaml", [{"id": "p"}], TASKS[:1], []),
        ev.TaskStarted(t0, "a", 1, "a", 101, 101),
        ev.TaskFinished(t0 + 2, "a", 1, "failed", 1),
        ev.TaskRetrying(t0 + 2, "a", 2, 3.0, "exited with code 1"),
        ev.TaskStarted(t0 + 5, "a", 2, "a", 102, 102),
        ev.TaskFinished(t0 + 6, "a", 2, "succeeded", 0),
        ev.RunFinished(t0 + 6, "succeeded"),
    ]
    _write_run(cli_env["PHASEGATE_DB"], row, events, [])
    table = pg("show", "retr0001").stdout.splitlines()[-1].split()
    assert table[:6] == ["a", "p", "a", "succeeded", "2", "1.0s"], table
    (shown,) = json.loads(pg("show", "retr0001", "--json").stdout)["tasks"]
    assert shown["duration"] == 1.0 and shown["attempts"] == 2
    performance = json.loads(pg("report", "retr0001", "--format", "json").stdout)["performance"]
    assert [t["duration"] for t in performance["tasks"]] == [1.0]


async def test_listing_a_long_interrupted_run_does_not_fold_it_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`runs` folds an interrupted run's events for its counts only when they are few (after
    its newest snapshot); beyond FOLD_AT_MOST the row's counts stand, and its time still runs to
    its newest event. (A 200,000-event run without a snapshot made `runs` take 2 s.)"""
    from phasegate.engine.client import runs as client
    from phasegate.engine.store import MemoryStore

    t0 = 1_700_000_000.0
    store = MemoryStore()
    row = RunRow("long0001", "two", "plan.yaml", "running", t0, started_at=t0)
    row = msgspec.structs.replace(
        row, counts={"running": 2}, engine_pid=GONE, engine_started=t0, heartbeat_at=t0 + 1
    )
    await store.create_run(row)
    events: list[ev.Event] = [
        ev.RunStarted(t0, "long0001", "two", "plan.yaml", [{"id": "p"}], TASKS, []),
        ev.TaskStarted(t0, "a", 1, "a", 101, 101),
        ev.TaskStarted(t0, "b", 1, "a", 102, 102),
        *(ev.RunNoted(t0 + 1 + i / 10, f"note {i}", "bob") for i in range(30)),
        ev.TaskFinished(t0 + 9, "a", 1, "succeeded", 0),
    ]
    await store.write_batch("long0001", list(enumerate(events, 1)))
    few = await client.known(store, row)
    assert few.counts == {"succeeded": 1, "running": 1} and few.duration == 9.0
    monkeypatch.setattr(client, "FOLD_AT_MOST", 10)
    many = await client.known(store, row)
    assert many.counts == {"running": 2} and many.duration == 9.0


def test_runs_cuts_a_very_long_plan_name(pg: Run, tmp_path: Path) -> None:
    # regression: a 150-character plan name took ten lines of its column in every listing
    name = "p" + "x" * 150
    (tmp_path / "l.yaml").write_text(
        f"name: {name}\nagents: {{w: {{}}}}\nphases:\n"
        "  - id: p\n    tasks: [{id: a, run: 'true', agent: w}]\n"
    )
    assert pg("run", "l.yaml", "--headless", "-q").returncode == 0
    listed = pg("runs").stdout
    assert name not in listed and name[:29] + "…" in listed, listed
    assert json.loads(pg("runs", "--json").stdout)["runs"][0]["plan"] == name
