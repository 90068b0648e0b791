"""Snapshots of the dashboard at 80x24 at three moments of a recorded run (frozen clock, UTC)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from tests.fixtures import Recording, load_run, read_jsonl

RECORDING = Path(__file__).parent / "data" / "delivery.jsonl"


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def _db_at(tmp_path: Path, upto: int) -> tuple[str, float]:
    """A database holding the recording's first `upto` events; the engine lease is this process
    (alive) while the run is unfinished. Returns the path and the time of the last event."""
    full = read_jsonl(RECORDING)
    upto = min(upto, len(full.events))
    cut = Recording(
        events=full.events[:upto],
        output=[o for o in full.output if o["ts"] <= full.events[upto - 1][1].ts],
    )
    db = str(tmp_path / "snap.db")

    async def load() -> None:
        store = await SQLiteStore.open(db)
        try:
            run_id = await load_run(store, cut)
            if upto < len(full.events):
                me = os.getpid()
                start = psutil.Process(me).create_time()
                await store.acquire_lease(run_id, me, start, time.time(), lambda *_: True)
        finally:
            await store.close()

    asyncio.run(load())
    return db, cut.events[-1][1].ts


@pytest.mark.parametrize(
    "moment, upto",
    [("launching", 21), ("retrying", 35), ("finished", 10_000)],
)
def test_dashboard_snapshot(snap_compare: Any, tmp_path: Path, moment: str, upto: int) -> None:
    db, last = _db_at(tmp_path, upto)
    # (seen by the recorded run's starter: its footer offers what an operator may do)
    app = PhasegateApp(db, "rec0001", clock=lambda: last + 1.0, viewer="ops")
    assert snap_compare(app, terminal_size=(80, 24))
