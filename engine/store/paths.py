"""Where a run's files live: `<data dir>/runs/<run id>/`, beside the database, created 0700
whatever the umask; and the check that the files the engine writes are its user's alone."""

from __future__ import annotations

import os
import secrets
import stat

from phasegate.engine.model.errors import StoreError


def new_run_id() -> str:
    return secrets.token_hex(4)


def run_dir(db_path: str, run_id: str) -> str:
    path = os.path.join(os.path.dirname(os.path.abspath(db_path)), "runs", run_id)
    private_dirs(path)
    return path


def private_dirs(path: str) -> None:
    """Make `path` and its missing parents, each 0700 whatever the umask (makedirs gives the
    mode to the last one only, and applies the umask to it)."""
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)


def check_private(db_path: str) -> None:
    """The engine writes only a database that is its user's alone: owned by this user, and
    neither it nor its directory (unless sticky, as /tmp) writable by anyone else, so that no
    one can swap in a database of theirs. StoreError says what to fix."""
    me = os.geteuid()
    for path, what in ((os.path.dirname(os.path.abspath(db_path)), "directory"), (db_path, "file")):
        try:
            found = os.stat(path)
        except FileNotFoundError:
            continue
        if found.st_uid != me:
            raise StoreError(
                f"the database {what} {path} belongs to uid {found.st_uid}, not to you "
                f"(uid {me}); the engine writes only its own: choose another with --db"
            )
        writable = found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        # (a sticky directory such as /tmp lets nobody else rename or remove our file)
        if writable and not (what == "directory" and found.st_mode & stat.S_ISVTX):
            mode = stat.S_IMODE(found.st_mode)
            raise StoreError(
                f"the database {what} {path} is writable by others (mode {mode:o}); "
                f"make it yours alone (chmod go-w {path}) or choose another with --db"
            )
