"""Fixtures for every test directory; the ones a single directory needs live beside its tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's database goes: a data directory that does not exist yet, as on first use."""
    return tmp_path / "data" / "phasegate.db"
