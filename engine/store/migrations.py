"""Numbered schema migrations; each is applied and recorded in the same transaction."""

from __future__ import annotations

import sqlite3
import time

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
}

LATEST = max(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> list[int]:
    """Bring the database to `target`; returns the versions applied. The connection must be in
    autocommit mode (isolation_level=None) so that each migration is one explicit transaction."""
    applied = []
    version = current_version(conn)
    if version > LATEST:
        from ..errors import StoreError

        raise StoreError(
            f"the database has schema version {version}, newer than this phasegate knows "
            f"({LATEST}); upgrade phasegate"
        )
    for number in range(version + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) >= number:  # another process got there first
                conn.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (number, time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
