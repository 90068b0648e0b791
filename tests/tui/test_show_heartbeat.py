"""`show` of a run whose engine lives but no longer beats (stopped with SIGSTOP, or hung): it
said `engine pid N (running)` as of a healthy one."""

from __future__ import annotations

import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.views import show_run

from .helpers import live_run, run_started


async def test_show_says_how_long_a_live_engine_has_not_beaten(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    now = time.time()
    run_id = await live_run(db, "quiet", [run_started(now - 200, "quiet", ["t"])])
    store = await SQLiteStore.open(db)
    try:
        await store.write_batch(run_id, [], summary={"heartbeat_at": now - 2})
        fresh = await show_run(db, run_id, as_json=False)
        await store.write_batch(run_id, [(2, ev.PhaseStarted(now - 199, "p"))])
        await store.write_batch(run_id, [], summary={"heartbeat_at": now - 125})
        stale = await show_run(db, run_id, as_json=False)
    finally:
        await store.close()
    assert "(running)" in fresh and "no heartbeat" not in fresh
    assert "(running, but no heartbeat for 2m0" in stale and "stopped or hung?" in stale
