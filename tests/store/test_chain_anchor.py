"""The anchor of a run's hash chain in its row: `audit --verify` notices events removed from the
end of a run and a changed run row (regression: both verified as holding, exit 0)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from phasegate.engine.client import verify_chain
from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.chain import link
from phasegate.engine.store.migrations import ANCHORED, migrate

from .helpers import T0, ready, started

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
NOT_ANCHORED = "the end of the chain is not anchored"


def _row(run_id: str) -> RunRow:
    # as the engine writes it: the same user, host, plan and start as its run.started event
    return RunRow(run_id, "plan", "plans/plan.yaml", "pending", T0, user="alice", host="host-1")


async def _recorded(db_path: Path, run_id: str = "r1", events: int = 14) -> None:
    """A run of `events` events, written in three batches."""
    store = await SQLiteStore.open(str(db_path))
    try:
        await store.create_run(_row(run_id))
        await store.write_batch(run_id, [(1, started(run_id)), (2, ready("a", 2))])
        await store.write_batch(run_id, [(s, ready("a", s)) for s in range(3, events)])
        await store.write_batch(run_id, [(events, ready("b", events))], summary={"status": "x"})
    finally:
        await store.close()


async def _verified(db_path: Path, run_id: str = "r1") -> tuple[int, list[str], list[str]]:
    store = await SQLiteStore.open(str(db_path))
    notes: list[str] = []
    try:
        count, problems = await verify_chain(store, run_id, notes)
    finally:
        await store.close()
    return count, problems, notes


def _sql(db_path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


async def test_a_run_as_written_verifies_with_nothing_left_out(db_path: Path) -> None:
    await _recorded(db_path)
    assert await _verified(db_path) == (14, [], [])


async def test_events_removed_from_the_end_are_named(db_path: Path) -> None:
    await _recorded(db_path)
    _sql(db_path, "DELETE FROM events WHERE run_id = 'r1' AND seq >= 12")
    assert await _verified(db_path) == (
        11,
        ["events 12 to 14 are missing: removed from the end of the run (it recorded 14)"],
        [],
    )


async def test_a_changed_row_is_named_field_by_field(db_path: Path) -> None:
    await _recorded(db_path)
    _sql(db_path, "UPDATE runs SET user = 'mallory', host = 'elsewhere' WHERE id = 'r1'")
    _, problems, _ = await _verified(db_path)
    assert problems == [
        "the run's user is 'mallory' in its row but 'alice' in its run.started event: "
        "the row was changed",
        "the run's host is 'elsewhere' in its row but 'host-1' in its run.started event: "
        "the row was changed",
    ]


async def test_a_removed_end_and_a_changed_row_are_both_named(db_path: Path) -> None:
    await _recorded(db_path)
    _sql(
        db_path,
        "DELETE FROM events WHERE run_id = 'r1' AND seq >= 14",
        "UPDATE runs SET user = 'mallory' WHERE id = 'r1'",
    )
    _, problems, _ = await _verified(db_path)
    assert problems == [
        "event 14 is missing: removed from the end of the run (it recorded 14)",
        "the run's user is 'mallory' in its row but 'alice' in its run.started event: "
        "the row was changed",
    ]


async def test_a_changed_start_is_noticed(db_path: Path) -> None:
    await _recorded(db_path)
    _sql(db_path, "UPDATE runs SET created_at = created_at + 60 WHERE id = 'r1'")
    _, problems, _ = await _verified(db_path)
    assert len(problems) == 1 and problems[0].startswith("the run's start is ")


async def test_a_last_event_rewritten_with_its_link_recomputed_breaks_the_anchor(
    db_path: Path,
) -> None:
    await _recorded(db_path)
    with closing(sqlite3.connect(db_path)) as db:
        prev = db.execute("SELECT chain FROM events WHERE run_id = 'r1' AND seq = 13").fetchone()
        ts, v, data = db.execute(
            "SELECT ts, v, data FROM events WHERE run_id = 'r1' AND seq = 14"
        ).fetchone()
        data = data.replace('"b"', '"c"')
        chain = link(prev[0], "r1", 14, "task.ready", ts, v, data)
        db.execute(
            "UPDATE events SET data = ?, chain = ? WHERE run_id = 'r1' AND seq = 14", (data, chain)
        )
        db.commit()
    _, problems, _ = await _verified(db_path)
    assert problems == [
        "the run's row (user, host, plan, start) or its event 14 (task.ready) does not match "
        "the anchor the run wrote: changed by hand"
    ]


async def test_events_added_after_the_end_are_named(db_path: Path) -> None:
    await _recorded(db_path)
    with closing(sqlite3.connect(db_path)) as db:
        prev = db.execute("SELECT chain FROM events WHERE run_id = 'r1' AND seq = 14").fetchone()
        data = '{"task": "b"}'
        chain = link(prev[0], "r1", 15, "task.ready", T0 + 15, 1, data)
        db.execute(
            "INSERT INTO events (run_id, seq, type, ts, v, data, chain) "
            "VALUES ('r1', 15, 'task.ready', ?, 1, ?, ?)",
            (T0 + 15, data, chain),
        )
        db.commit()
    _, problems, _ = await _verified(db_path)
    assert problems == ["event 15 came after the run's last recorded event (14): inserted by hand"]


async def test_an_anchor_removed_from_a_run_recorded_since_anchoring_is_a_problem(
    db_path: Path,
) -> None:
    await _recorded(db_path)
    _sql(
        db_path,
        "UPDATE runs SET chain_seq = NULL, chain_anchor = NULL WHERE id = 'r1'",
        f"UPDATE schema_migrations SET applied_at = {T0 - 1} WHERE version = {ANCHORED}",
    )
    _, problems, notes = await _verified(db_path)
    assert problems == [
        "the run has no anchor, yet it started after the database began anchoring runs: its "
        "anchor was removed from the run's row"
    ]
    assert notes == []


async def test_a_run_recorded_before_anchors_verifies_by_its_links_and_says_so(
    db_path: Path,
) -> None:
    # a database of the schema before anchors, its run written as that phasegate wrote it
    db_path.parent.mkdir(mode=0o700)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as db:
        migrate(db, target=ANCHORED - 1)
        db.execute(
            "INSERT INTO runs (id, plan_name, plan_path, status, created_at, user, host) "
            "VALUES ('old', 'plan', 'plans/plan.yaml', 'succeeded', ?, 'alice', 'host-1')",
            (T0,),
        )
        prev = ""
        for seq, event in [(1, started("old")), *((s, ready("a", s)) for s in range(2, 6))]:
            name, v, data = event.record()
            prev = link(prev, "old", seq, name, event.ts, v, data)
            db.execute(
                "INSERT INTO events (run_id, seq, type, ts, v, data, chain) "
                "VALUES ('old', ?, ?, ?, ?, ?, ?)",
                (seq, name, event.ts, v, data, prev),
            )
    count, problems, notes = await _verified(db_path, "old")
    assert (count, problems) == (5, [])
    assert len(notes) == 1 and notes[0].startswith(NOT_ANCHORED)
    # its row is still compared with its run.started event
    _sql(db_path, "UPDATE runs SET user = 'mallory' WHERE id = 'old'")
    _, problems, _ = await _verified(db_path, "old")
    assert problems == [
        "the run's user is 'mallory' in its row but 'alice' in its run.started event: "
        "the row was changed"
    ]


async def test_another_process_appending_and_a_refused_batch_keep_the_anchor(
    db_path: Path,
) -> None:
    # an ended run's note is appended by the command's own process (its own store): the anchor
    # goes on from the database's end, as does one after a batch the database refused
    await _recorded(db_path)
    store = await SQLiteStore.open(str(db_path))
    try:
        with pytest.raises(StoreError):
            await store.write_batch("r1", [(14, ready("a", 14))])  # (seq used twice)
        await store.write_batch("r1", [(15, ready("a", 15))])
        await store.write_batch("r1", [(16, ready("a", 16)), (17, ready("a", 17))])
    finally:
        await store.close()
    assert await _verified(db_path) == (17, [], [])


def test_audit_verify_exits_1_for_a_removed_end_and_says_when_it_cannot_tell(
    db_path: Path, tmp_path: Path
) -> None:
    import asyncio

    asyncio.run(_recorded(db_path))
    env = {**os.environ, "PHASEGATE_DB": str(db_path)}

    def audit(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [PHASEGATE, "audit", "r1", "--verify", *extra]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)

    assert audit().returncode == 0
    _sql(db_path, "DELETE FROM events WHERE run_id = 'r1' AND seq >= 14")
    done = audit()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "event 14 is missing: removed from the end of the run" in done.stdout
    _sql(db_path, "UPDATE runs SET chain_seq = NULL, chain_anchor = NULL")  # (as before anchors)
    done = audit("--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert NOT_ANCHORED in done.stdout
