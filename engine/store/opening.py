"""Opening the SQLite database: where it is by default, making its file private, the WAL
switch, and the read-only opening of a database this user may read but not write (its
messages: what went wrong, and what to do)."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import time
import urllib.parse

import aiosqlite

from phasegate.engine.model.errors import DatabaseUnusable, StoreBusy, StoreError
from phasegate.engine.store.migrations import (
    LATEST,
    READABLE_FROM,
    TABLES,
    VERSION,
    foreign_of,
    foreign_refusal,
    foreign_tables,
)
from phasegate.engine.store.paths import denied_by, private_dirs

BUSY_TIMEOUT_MS = 10_000


def default_db_path() -> str:
    """`PHASEGATE_DB`, else `phasegate.db` in the user data directory (platformdirs)."""
    env = os.environ.get("PHASEGATE_DB")
    if env:
        return env
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("phasegate", appauthor=False), "phasegate.db")


def db_flag(db_path: str) -> str:
    """What a hint's command needs to find the run again: ` --db PATH`, or nothing for the
    database a command opens by default."""
    import shlex

    if db_path == ":memory:" or _is_default(db_path):
        return ""
    return f" --db {shlex.quote(db_path)}"


def _is_default(db_path: str) -> bool:
    # (a path not named like the default is not it, whatever platformdirs says: a run's start
    # need not import platformdirs, about 5 ms, to word its hints)
    env = os.environ.get("PHASEGATE_DB")
    if not env and os.path.basename(db_path) != "phasegate.db":
        return False
    return os.path.abspath(db_path) == os.path.abspath(default_db_path())


SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database
_MISPLACED = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


def prepare_path(path: str) -> None:
    """Create the data directory (0700) and the database file (0600) if they are missing.
    For a run only: a command that reads checks first that the database exists
    (check_database), so that a typo in --db makes nothing."""
    if path == ":memory:":
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.stat(path)  # (one this user cannot even reach is not "cannot create")
    except PermissionError:
        raise DatabaseUnusable(f"cannot use the database {path}: {denied_by(path)}") from None
    except OSError:
        pass
    try:
        private_dirs(directory)  # 0700 whatever the umask says
        if not os.path.exists(path):
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
    except OSError as exc:
        kind = DatabaseUnusable if exc.errno in _MISPLACED else StoreError
        raise kind(
            f"cannot create the database {path}: {exc.strerror}; "
            "choose another place with --db or PHASEGATE_DB"
        ) from None


def check_database(path: str, source: str = "", create: bool = False) -> None:
    """Before a command opens the database at `path` (`source`: who chose it, `--db`,
    `PHASEGATE_DB` or `the default`): DatabaseUnusable (exit 2) when it cannot be the one,
    before anything is made or written. A command that only reads needs it to exist (a typo
    in --db must not leave a directory and an empty database behind); `create` (a run) lets a
    missing one be made. Reads only: another program's file is left as it was."""
    if path == ":memory:":
        return
    named = f" ({source})" if source else ""
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if create:
            return
        raise DatabaseUnusable(
            f"no database at {path}{named}, so no runs yet; nothing was created there: "
            "`phasegate run PLAN` records a run, or choose another with --db or PHASEGATE_DB"
        ) from None
    except PermissionError:
        verb = "use" if create else "read"
        raise DatabaseUnusable(f"cannot {verb} the database {path}: {denied_by(path)}") from None
    if not stat.S_ISREG(found.st_mode):
        raise DatabaseUnusable(f"{path}{named} is not a database file; choose another with --db")
    if not os.access(path, os.R_OK):
        raise DatabaseUnusable(f"cannot read the database {path}: {denied_by(path)}")
    # (a run's engine may be another process: refused here, before it starts; a command
    # that reads opens the store itself, which refuses the same file the same way)
    if create:
        _probe(path)


def _probe(path: str) -> None:
    """DatabaseUnusable if the file is no SQLite database, or another program's."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError:
        return  # (opening it says what is wrong)
    if not head:
        return  # (empty: a new database, made by prepare_path)
    if head != SQLITE_MAGIC:
        raise DatabaseUnusable(not_a_database(path))
    where = "file:" + urllib.parse.quote(os.path.abspath(path))
    for mode in ("?mode=ro", "?mode=ro&immutable=1"):  # (as open_read_only reads)
        try:
            conn = sqlite3.connect(where + mode, uri=True, isolation_level=None, timeout=1.0)
        except sqlite3.Error:
            continue
        try:
            foreign = foreign_tables(conn)
        except sqlite3.Error:
            continue  # (the store's own opening says what is wrong, if anything is)
        finally:
            conn.close()
        if foreign:
            raise DatabaseUnusable(f"database {path}: {foreign_refusal(foreign)}")
        return


def writable_sides(path: str) -> bool:
    """Give the WAL's side files (`-wal`, `-shm`) the database's mode again when they lost its
    write bit (True when one was changed): SQLite makes them with the database's mode, so a
    read-only reader that came while the database was `chmod 400` left a read-only `-shm`
    behind, and every writer failed on it after the database was made writable again. Called
    once the file is known to be ours (another program's is left as it was); a chmod disturbs
    no connection, but a connection opened before it keeps the side file read-only."""
    try:
        mode = os.stat(path).st_mode & 0o666
    except OSError:
        return False
    if not mode & 0o200:
        return False
    changed = False
    for side in (path + "-wal", path + "-shm"):
        try:
            st = os.stat(side)
            if st.st_uid == os.geteuid() and not st.st_mode & 0o200:
                os.chmod(side, mode)
                changed = True
        except OSError:
            continue
    return changed


def not_a_database(path: str) -> str:
    """What is said of a file that is no SQLite database (so no phasegate one), once."""
    return f"database {path}: the file is not a database; choose another with --db or PHASEGATE_DB"


def store_error(path: str, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    hint = "check the file and its directory, or choose another with --db"
    if "readonly" in text or "read-only" in text:
        hint = (
            "the database or its directory is read-only (nothing committed was lost); "
            "fix the permissions or the mount, or use --db"
        )
    elif "disk is full" in text or "full" in text:
        hint = "free space (nothing committed was lost), then `phasegate resume` goes on"
    elif "not a database" in text:  # (a file of noise: choose another, exit 2)
        return DatabaseUnusable(not_a_database(path))
    elif "locked" in text or "busy" in text:
        return StoreBusy(f"database {path}: {text}; another process holds its lock")
    return StoreError(f"database {path}: {text}; {hint}")


def enable_wal(conn: sqlite3.Connection, path: str) -> None:
    """Switch the file to WAL mode (it stays so), waiting out another process doing the same.

    The switch needs an exclusive lock, and two connections asking for it at once (two processes
    opening a new database) make SQLite answer "database is locked" at once, without calling the
    busy handler: so retry until the busy timeout is spent.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    mode = str(row[0]).lower() if row else "unknown"
    if mode != "wal":
        raise StoreError(
            f"database {path}: cannot switch it to WAL mode (it stays {mode}); the file or its "
            "directory is probably read-only or on a file system without shared memory; "
            "choose another with --db"
        )


def writable(path: str) -> bool:
    """Whether this user may write the database: the file, and its directory (where SQLite
    makes the write-ahead log and its shared memory)."""
    return os.access(path, os.W_OK) and os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


def _why_not_migrated(path: str) -> str:
    if os.stat(path).st_uid != os.geteuid():
        return "it is not yours to migrate: its owner's phasegate does so when it next opens it"
    directory = os.path.dirname(os.path.abspath(path))
    return (
        f"it cannot be upgraded while it or its directory is read-only: make them writable "
        f"(chmod u+w {path} {directory}) or choose another with --db"
    )


async def open_read_only(path: str) -> tuple[aiosqlite.Connection, str]:
    """A read-only connection to a database this user may read but not write (a run shared
    with a group, or a data directory that is read-only). While its engine runs, the WAL's
    shared memory exists and is the group's; once no one has it open there is none, and the
    file is read as it is (immutable)."""
    where = "file:" + urllib.parse.quote(os.path.abspath(path))
    if not os.access(path, os.R_OK):
        raise DatabaseUnusable(
            f"cannot read the database {path}: {denied_by(path)}; its owner can share a run "
            "with your group (`phasegate run PLAN --share GROUP`)"
        )
    last: sqlite3.Error | None = None
    for mode in ("?mode=ro", "?mode=ro&immutable=1"):
        if mode.endswith("immutable=1") and os.path.exists(f"{path}-shm"):
            break  # (a live engine's: reading past its shared memory would show stale pages)
        conn = await aiosqlite.connect(
            where + mode, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            await conn.execute("BEGIN")  # (one snapshot for both reads)
            tables = [str(r[0]) for r in await conn.execute_fetchall(TABLES)]
            version = 0
            if "schema_migrations" in tables:
                rows = await conn.execute_fetchall(VERSION)
                version = int(next(iter(rows))[0] or 0) if rows else 0
            await conn.execute("COMMIT")
        except sqlite3.Error as exc:
            await conn.close()
            last = exc
            continue
        foreign = foreign_of(tables, version)
        # (a schema a migration only indexed since: read as it is, slower, by who may not migrate)
        readable = READABLE_FROM <= version <= LATEST
        if foreign or not readable:
            await conn.close()
        if foreign:
            raise DatabaseUnusable(f"database {path}: {foreign_refusal(foreign)}")
        if not readable:
            reads = f"{READABLE_FROM} to {LATEST}" if READABLE_FROM < LATEST else f"{LATEST}"
            raise StoreError(
                f"database {path} has schema version {version} and this phasegate reads "
                f"{reads}; {_why_not_migrated(path)}"
            )
        return conn, where + mode
    raise store_error(path, last or sqlite3.OperationalError("cannot be opened read-only"))
