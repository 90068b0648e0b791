"""The data directory and run directories are 0700 whatever the umask, and the engine writes
only a database that is its user's alone (so that nobody can swap in a database of theirs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from phasegate.engine.model.errors import StoreError
from phasegate.engine.store.opening import prepare_path
from phasegate.engine.store.paths import check_private, run_dir


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_data_and_run_directories_are_private_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    db = tmp_path / "a" / "b" / "pg.db"
    made = Path(run_dir(str(db), "r1"))  # (the launcher makes the run directory first)
    prepare_path(str(db))
    for directory in (tmp_path / "a", tmp_path / "a" / "b", made.parent, made):
        assert _mode(directory) == 0o700, directory
    assert _mode(db) == 0o600
    check_private(str(db))  # its own: accepted


@pytest.mark.parametrize("who", ["file", "directory"])
def test_a_database_writable_by_others_is_refused(tmp_path: Path, who: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "pg.db"
    db.write_bytes(b"")
    db.chmod(0o600)
    (db if who == "file" else data).chmod(0o666 if who == "file" else 0o777)
    with pytest.raises(StoreError, match=f"database {who} .* is writable by others"):
        check_private(str(db))


def test_a_sticky_shared_directory_is_accepted(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp: nobody can rename or remove another's file
    db = shared / "pg.db"
    db.write_bytes(b"")
    db.chmod(0o600)
    check_private(str(db))


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_database_of_another_user_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "pg.db"
    db.write_bytes(b"")
    db.chmod(0o600)
    os.chown(db, 65534, 65534)  # nobody's
    with pytest.raises(StoreError, match="belongs to uid 65534, not to you"):
        check_private(str(db))
