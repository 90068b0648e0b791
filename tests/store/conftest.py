"""The `store` fixture: every contract test runs once on SQLite (a file) and once in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from phasegate.engine.store import MemoryStore, SQLiteStore, Store


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Store]:
    s: Store = await SQLiteStore.open(str(db_path)) if request.param == "sqlite" else MemoryStore()
    try:
        yield s
    finally:
        await s.close()
