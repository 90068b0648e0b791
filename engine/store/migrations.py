"""Numbered schema migrations; each is applied and recorded in the same transaction."""

from __future__ import annotations

import sqlite3
import time

from phasegate.engine.model.errors import DatabaseUnusable, StoreError

# the version from which runs' chains are anchored in their rows (a run started later has one)
ANCHORED = 10

# version -> statements. Never edit a released migration: add the next one.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            plan_name TEXT NOT NULL,
            plan_path TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            counts TEXT NOT NULL DEFAULT '{}',
            user TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE events (
            run_id TEXT NOT NULL REFERENCES runs(id),
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            ts REAL NOT NULL,
            v INTEGER NOT NULL DEFAULT 1,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
    ],
    2: [
        "ALTER TABLE runs ADD COLUMN engine_pid INTEGER",
        "ALTER TABLE runs ADD COLUMN engine_started REAL",
        "ALTER TABLE runs ADD COLUMN heartbeat_at REAL",
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            kind TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{}',
            author TEXT NOT NULL,
            created_at REAL NOT NULL,
            claimed_at REAL,
            result TEXT
        )""",
        "CREATE INDEX commands_pending ON commands (run_id, claimed_at)",
    ],
    3: [
        """CREATE TABLE output (
            run_id TEXT NOT NULL REFERENCES runs(id),
            task TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            line INTEGER NOT NULL,
            stream TEXT NOT NULL,
            text TEXT NOT NULL,
            ts REAL NOT NULL,
            PRIMARY KEY (run_id, task, attempt, line)
        )""",
        "CREATE INDEX runs_created ON runs (created_at)",
    ],
    # The tail cursors (events and output by rowid) must never go back. A rowid without
    # AUTOINCREMENT is max(rowid) + 1, so an OutputDrop that deleted the newest line (a line
    # larger than the whole cap drops every line of its attempt) handed its cursor to the next
    # line, which a client already past that cursor never saw; VACUUM may also renumber a rowid
    # that is not an INTEGER PRIMARY KEY. Rebuild both tables with one, keeping every cursor.
    4: [
        """CREATE TABLE events_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            ts REAL NOT NULL,
            v INTEGER NOT NULL DEFAULT 1,
            data TEXT NOT NULL,
            UNIQUE (run_id, seq)
        )""",
        "INSERT INTO events_new (id, run_id, seq, type, ts, v, data) "
        "SELECT rowid, run_id, seq, type, ts, v, data FROM events ORDER BY rowid",
        "DROP TABLE events",
        "ALTER TABLE events_new RENAME TO events",
        """CREATE TABLE output_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            task TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            line INTEGER NOT NULL,
            stream TEXT NOT NULL,
            text TEXT NOT NULL,
            ts REAL NOT NULL,
            UNIQUE (run_id, task, attempt, line)
        )""",
        "INSERT INTO output_new (id, run_id, task, attempt, line, stream, text, ts) "
        "SELECT rowid, run_id, task, attempt, line, stream, text, ts FROM output ORDER BY rowid",
        "DROP TABLE output",
        "ALTER TABLE output_new RENAME TO output",
    ],
    # Durable runs: the plan text and variables a run was started with (so `resume` runs the
    # same plan even if the file changed), and periodic snapshots of the fold (so attaching to
    # a long run does not fold from the first event).
    5: [
        """CREATE TABLE run_plans (
            run_id TEXT PRIMARY KEY REFERENCES runs(id),
            text TEXT NOT NULL,
            vars TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE snapshots (
            run_id TEXT NOT NULL REFERENCES runs(id),
            seq INTEGER NOT NULL,
            format TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
    ],
    # What earlier runs taught: lessons, notes, risks and failures, searchable (FTS5), for
    # `phasegate search` and the plans' `research:` queries with provider `history`.
    6: [
        """CREATE VIRTUAL TABLE knowledge USING fts5(
            run_id UNINDEXED, plan UNINDEXED, kind UNINDEXED, ts UNINDEXED, subject, text,
            tokenize = 'porter unicode61'
        )""",
    ],
    # How long each task took in earlier runs of a plan (successful attempts), for estimates
    # learned from history: the forecast, the dry run and the overrun rule read it.
    7: [
        """CREATE TABLE task_durations (
            plan TEXT NOT NULL,
            task TEXT NOT NULL,
            run_id TEXT NOT NULL,
            seconds REAL NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (plan, task, run_id)
        )""",
    ],
    # Tamper evidence: each event row carries the hash of the row before it and of itself
    # (store/chain.py); `phasegate audit RUN --verify` walks the chain.
    8: ["ALTER TABLE events ADD COLUMN chain TEXT"],
    # Each applied amendment of a live run's plan (`phasegate amend`), beside the text it started
    # with (run_plans, version 1): a take-over loads the newest.
    9: [
        """CREATE TABLE plan_versions (
            run_id TEXT NOT NULL REFERENCES runs(id),
            version INTEGER NOT NULL,
            text TEXT NOT NULL,
            change TEXT NOT NULL DEFAULT '',
            at REAL NOT NULL,
            PRIMARY KEY (run_id, version)
        )""",
    ],
    # The end of each run's hash chain, anchored in its row as each batch of events is written
    # (store/chain.py): the last event's seq, and a hash of its chain and of the row's identity,
    # so that `audit --verify` notices events removed from the end, and a changed row.
    ANCHORED: [
        "ALTER TABLE runs ADD COLUMN chain_seq INTEGER",
        "ALTER TABLE runs ADD COLUMN chain_anchor TEXT",
    ],
    # A run's output in the order it was written: `logs RUN` (-f) reads it in batches after a
    # cursor, and `attach` what each task printed last; without this index each batch re-read
    # and sorted the run's whole output (2M lines: 120 s), or scanned every run's rows after
    # the cursor. An index only: a phasegate without it reads the same rows, slower.
    11: ["CREATE INDEX IF NOT EXISTS output_run_order ON output (run_id, id)"],
}

LATEST = max(MIGRATIONS)
# the oldest schema whose reads this phasegate's queries serve as they are: the migrations after
# it add indexes only, so a reader that may not migrate (a run shared read-only) could read it
# (slower); raise it with a migration that adds a column or a table
READABLE_FROM = ANCHORED


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new or foreign one); reads only."""
    if not _has_table(conn, "schema_migrations"):
        return 0
    row = conn.execute(VERSION).fetchone()
    return int(row[0] or 0)  # (an empty table, as an interrupted first open leaves it)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


# what tells a phasegate database from another program's (read by the sync and async openers)
TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)
VERSION = "SELECT MAX(version) FROM schema_migrations"


def foreign_of(tables: list[str], version: int) -> list[str]:
    """Of a database's tables and its recorded schema version: the tables of another program
    (tables, but no migration of ours recorded), or [] for a phasegate (or new) database."""
    return [t for t in tables if t != "schema_migrations"] if version == 0 else []


def foreign_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of another program, if the file is its database and not a phasegate one
    (tables, but no migration of ours recorded); [] otherwise. Reads only, so that a file that
    is refused is left as it was."""
    # one snapshot for both reads: another phasegate committing its first migrations between
    # them would make its tables look like a stranger's
    snapshot = not conn.in_transaction
    if snapshot:
        conn.execute("BEGIN")
    try:
        return foreign_of([str(r[0]) for r in conn.execute(TABLES)], current_version(conn))
    finally:
        if snapshot:
            conn.execute("COMMIT")  # (it only read)


def foreign_refusal(tables: list[str]) -> str:
    """What the store says (and `doctor` with it) of another program's database."""
    return (
        f"the file is an SQLite database of another program (tables: {', '.join(tables[:5])}), "
        "not a phasegate one; choose another with --db"
    )


def check_not_foreign(conn: sqlite3.Connection) -> None:
    """DatabaseUnusable (exit 2: choose another) if the file is another program's database;
    reads only."""
    foreign = foreign_tables(conn)
    if foreign:
        raise DatabaseUnusable(foreign_refusal(foreign))


def migrate(
    conn: sqlite3.Connection,
    target: int | None = None,
    migrations: dict[int, list[str]] | None = None,
) -> list[int]:
    """Bring the database to `target` (default: the latest); returns the versions applied.

    The connection must be in autocommit mode (isolation_level=None) so that each migration is
    one explicit transaction, recorded in `schema_migrations` by that same transaction: a
    migration that fails leaves the database at the previous version with nothing of it applied.
    A new database (version 0) gets them all in one transaction: a failure leaves it empty.
    `migrations` defaults to MIGRATIONS; tests pass their own to simulate a failing one.
    """
    steps = MIGRATIONS if migrations is None else migrations
    latest = max(steps)
    target = latest if target is None else target
    applied = []
    check_not_foreign(conn)  # (before anything is written to the file)
    version = current_version(conn)
    if version > latest:
        raise StoreError(
            f"the database has schema version {version}, newer than this phasegate knows "
            f"({latest}); upgrade phasegate, or choose another database with --db"
        )
    # a new database gets every migration in one transaction (all or nothing: nine commits
    # were half of a first run's store opening); one that has a schema, one transaction each
    batches = (
        [list(range(1, target + 1))]
        if version == 0
        else [[n] for n in range(version + 1, target + 1)]
    )
    for batch in batches:
        if batch:
            applied += _apply(conn, batch, steps)
    return applied


def _apply(conn: sqlite3.Connection, numbers: list[int], steps: dict[int, list[str]]) -> list[int]:
    """Migrations `numbers` (consecutive), applied and recorded in one transaction; those
    another process applied meanwhile are left out ([] when it applied them all)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # another process may have got there first, and gone all the way or part of it (an
        # older phasegate, or one taking them one at a time): what is left is ours
        done = current_version(conn)
        numbers = [n for n in numbers if n > done]
        if not numbers:
            conn.execute("ROLLBACK")
            return []
        # checked again inside the transaction, before its first write: another phasegate
        # creating its tables meanwhile must not look like a foreign database
        check_not_foreign(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at REAL)"
        )
        now = time.time()
        for number in numbers:
            for statement in steps[number]:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (number, now)
            )
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls some failures back by itself (a full disk); a second ROLLBACK would
        # then raise and hide the error that matters
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return numbers
