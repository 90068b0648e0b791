"""Regression: with the hash chain set to NULL on every event of a run that began after the
database started anchoring, `audit --verify` said the run was tampered with because it "was
recorded before its events were hash-chained (phasegate 0.2 and older)": a contradiction, and
not what happened. It says the chain was removed from the run's events."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .helpers import T0
from .test_chain_anchor import _recorded, _sql, _verified

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
REMOVED = "the hash chain was removed from its 14 events (the run was anchored when it began)"


async def test_a_chain_removed_from_every_event_of_an_anchored_run_is_said_so(
    db_path: Path,
) -> None:
    await _recorded(db_path)
    _sql(db_path, "UPDATE events SET chain = NULL WHERE run_id = 'r1'")
    assert await _verified(db_path) == (14, [REMOVED], [])


async def test_the_anchor_removed_too_is_named_as_well(db_path: Path) -> None:
    from phasegate.engine.store.migrations import ANCHORED

    await _recorded(db_path)
    _sql(
        db_path,
        "UPDATE events SET chain = NULL WHERE run_id = 'r1'",
        "UPDATE runs SET chain_seq = NULL, chain_anchor = NULL WHERE id = 'r1'",
        f"UPDATE schema_migrations SET applied_at = {T0 - 1} WHERE version = {ANCHORED}",
    )
    _, problems, _ = await _verified(db_path)
    assert problems == [REMOVED, "its anchor was removed from the run's row too"]


async def test_the_last_events_removed_with_the_chain_are_named(db_path: Path) -> None:
    await _recorded(db_path)
    _sql(
        db_path,
        "UPDATE events SET chain = NULL WHERE run_id = 'r1'",
        "DELETE FROM events WHERE run_id = 'r1' AND seq > 12",
    )
    _, problems, _ = await _verified(db_path)
    assert problems == [
        "the hash chain was removed from its 12 events (the run was anchored when it began)",
        "the run recorded 14 events: the last ones were removed too",
    ]


def test_audit_verify_says_the_chain_was_removed(db_path: Path) -> None:
    asyncio.run(_recorded(db_path))
    _sql(db_path, "UPDATE events SET chain = NULL WHERE run_id = 'r1'")
    env = {**os.environ, "PHASEGATE_DB": str(db_path)}
    done = subprocess.run(
        [PHASEGATE, "audit", "r1", "--verify"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == f"run r1: its audit trail was tampered with (1 problem)\n  {REMOVED}\n"
    assert "0.2 and older" not in done.stdout + done.stderr
