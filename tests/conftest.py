"""Fixtures for every test directory; the ones a single directory needs live beside its tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's database goes: a data directory that does not exist yet, as on first use."""
    return tmp_path / "data" / "phasegate.db"


@pytest.fixture(scope="session", autouse=True)
def _own_tmux_server() -> Iterator[None]:
    """A tmux server of this test process's own (each pytest-xdist worker has one): the terminal
    tests' sessions never meet those of another worker, or of anyone else's tmux on the machine,
    and a server that exits as another worker's last session ends cannot take a new one with it.
    Stopped, with whatever a failed test left in it, at the end of the session."""
    if shutil.which("tmux") is None:
        yield
        return
    where = tempfile.mkdtemp(prefix="pg-tmux-")  # (short: a socket path has a length limit)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMUX_TMPDIR", where)
        mp.delenv("TMUX", raising=False)  # (inside tmux, its client would use that server)
        try:
            yield
        finally:
            subprocess.run(["tmux", "kill-server"], capture_output=True, check=False)
            shutil.rmtree(where, ignore_errors=True)
