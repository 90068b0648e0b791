"""`phasegate doctor`: checks of the data directory, the database, the runs it holds, and task
processes that outlive their run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import urllib.parse

import msgspec
import psutil

from phasegate.engine.durable.leaks import scan
from phasegate.engine.durable.recovery import processes_by_run
from phasegate.engine.exec.group import same_process
from phasegate.engine.store.migrations import (
    LATEST,
    current_version,
    foreign_refusal,
    foreign_tables,
)
from phasegate.engine.store.opening import db_flag
from phasegate.engine.store.paths import (
    denied_by,
    group_name,
    run_path,
    shared_with,
    socket_path,
    user_name,
)

LOW_DISK = 200 * 2**20  # free bytes under which the data directory's disk is a warning
BIG_WAL = 256 * 2**20


class Finding(msgspec.Struct, frozen=True):
    check: str
    level: str  # ok | warn | fail
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "detail": self.detail}


def _writable_by_others(found: os.stat_result, directory: bool) -> bool:
    """As the engine's check (store/paths.py): group or others may write it, and it is not a
    sticky directory such as /tmp (where no one else can rename or remove our file)."""
    writable = found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return bool(writable) and not (directory and found.st_mode & stat.S_ISVTX)


def shared_groups(directory: str) -> set[int]:
    """The groups that runs of the database in `directory` are shared with (`run --share`:
    their run directories are the group's, 2750), as store/paths.py records it."""
    groups = set()
    try:
        with os.scandir(os.path.join(directory, "runs")) as entries:
            for entry in entries:
                gid = shared_with(entry.path) if entry.is_dir(follow_symlinks=False) else None
                if gid is not None:
                    groups.add(gid)
    except OSError:
        pass  # (no run yet, or none this user may list)
    return groups


def _exposed(found: os.stat_result, shared: set[int]) -> bool:
    """May someone other than its owner read it, beyond a group its runs are shared with (whose
    access `run --share` gave on purpose)?"""
    mode = stat.S_IMODE(found.st_mode)
    return bool(mode & 0o007 or (mode & 0o070 and found.st_gid not in shared))


def check_directory(db_path: str) -> list[Finding]:
    directory = os.path.dirname(os.path.abspath(db_path))
    try:
        os.stat(directory)
    except PermissionError:  # (there, but not for this user: not "made on use")
        return [Finding("data directory", "fail", f"{directory}: {denied_by(directory)}")]
    except OSError:
        pass
    if not os.path.isdir(directory):
        return [Finding("data directory", "warn", f"{directory} does not exist yet (made on use)")]
    found = []
    info = os.stat(directory)
    mode, shared = stat.S_IMODE(info.st_mode), shared_groups(directory)
    group = group_name(info.st_gid)
    # a shared database's directory is its group's on purpose (2750): `chmod 700` unshares it
    private = f"chmod 2750 {directory}" if info.st_gid in shared else f"chmod 700 {directory}"
    # (another user's data directory, whose runs are shared with a group of yours)
    mine = shared & {os.getegid(), *os.getgroups()}
    theirs = info.st_uid != os.geteuid() and bool(mine)

    if _writable_by_others(info, directory=True):
        found.append(
            Finding(
                "data directory",
                "fail",
                f"{directory} is {mode:o}: writable by others, who could swap in a database of "
                f"theirs, so `phasegate run` refuses it; `{private}`",
            )
        )
    elif _exposed(info, shared):
        shared_here = info.st_gid in shared
        beyond = f" outside group {group}, which its runs are shared with," if shared_here else ""
        found.append(
            Finding(
                "data directory",
                "warn",
                f"{directory} is {mode:o}: other users{beyond} can read it; `{private}`",
            )
        )
    elif not os.access(directory, os.W_OK) and theirs:
        # (another user's, shared with a group of yours: you read its runs, its owner writes)
        owner = user_name(info.st_uid)
        found.append(
            Finding(
                "data directory",
                "ok",
                f"{directory} ({owner}'s, shared with group {group_name(min(mine))}: you read "
                "its runs and act "
                "on them as its plans allow; its owner starts them and takes them over)",
            )
        )
    elif not os.access(directory, os.W_OK):
        found.append(Finding("data directory", "fail", f"{directory} is not writable"))
    elif mode & 0o070:
        found.append(
            Finding("data directory", "ok", f"{directory} ({mode:o}: shared with group {group})")
        )
    else:
        found.append(Finding("data directory", "ok", f"{directory} (700)"))
    free = shutil.disk_usage(directory).free
    level = "warn" if free < LOW_DISK else "ok"
    hint = "; free space before long runs" if level == "warn" else ""
    found.append(Finding("free disk", level, f"{free / 2**20:,.0f} MiB free{hint}"))
    return found


def check_database(db_path: str) -> list[Finding]:
    try:
        os.stat(db_path)
    except PermissionError:
        return [Finding("database", "fail", f"{db_path}: {denied_by(db_path)}")]
    except OSError:
        pass
    if not os.path.exists(db_path):
        return [Finding("database", "warn", f"{db_path} does not exist yet (made on first run)")]
    found = []
    info = os.stat(db_path)
    mode, shared = stat.S_IMODE(info.st_mode), shared_groups(os.path.dirname(db_path) or ".")
    group = group_name(info.st_gid)
    # a shared database is readable by its group on purpose (0640): `chmod 600` unshares it
    private = f"chmod 640 {db_path}" if info.st_gid in shared else f"chmod 600 {db_path}"
    if _writable_by_others(info, directory=False):
        found.append(
            Finding(
                "database file",
                "fail",
                f"{db_path} is {mode:o}: writable by others, so `phasegate run` refuses it; "
                f"`{private}`",
            )
        )
    elif _exposed(info, shared):
        beyond = f": users outside group {group}, which its runs are shared with, can read it"
        found.append(
            Finding(
                "database file",
                "warn",
                f"{db_path} is {mode:o}{beyond if info.st_gid in shared else ''}; `{private}`",
            )
        )
    elif mode & 0o070:
        found.append(
            Finding("database file", "ok", f"{db_path} ({mode:o}: shared with group {group})")
        )
    try:
        conn, result, as_is = _quick_check(db_path)
    except sqlite3.Error as exc:
        return [*found, Finding("database", "fail", f"{db_path} cannot be opened: {exc}")]
    try:
        if result != "ok":
            found.append(Finding("integrity", "fail", f"{db_path}: {result}"))
        else:
            found.append(Finding("integrity", "ok", "quick_check passed"))
        foreign = foreign_tables(conn)
        if foreign:  # (the store refuses it: nothing below applies to it)
            found.append(Finding("database", "fail", f"{db_path}: {foreign_refusal(foreign)}"))
            return found
        mode_name = (
            _journal_of(db_path) if as_is else conn.execute("PRAGMA journal_mode").fetchone()[0]
        )
        level = "ok" if str(mode_name).lower() == "wal" else "warn"
        found.append(Finding("journal", level, f"journal_mode={mode_name}"))
        version = current_version(conn)
        if version > LATEST:
            found.append(
                Finding(
                    "schema",
                    "fail",
                    f"version {version} is newer than this phasegate ({LATEST}); upgrade it",
                )
            )
        elif version < LATEST:
            found.append(
                Finding("schema", "ok", f"version {version}; upgraded to {LATEST} on next use")
            )
        else:
            found.append(Finding("schema", "ok", f"version {version}"))
        if version >= 2:
            found += _check_runs(conn, db_path)
            found += _check_strays(conn, db_path)
        if version >= 5:  # (run_plans)
            found += _check_keys(conn)
    except sqlite3.Error as exc:
        found.append(Finding("database", "fail", f"{db_path}: {exc}"))
    finally:
        conn.close()
    wal = db_path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > BIG_WAL:
        size = os.path.getsize(wal) / 2**20
        found.append(Finding("wal", "warn", f"{size:,.0f} MiB write-ahead log not checkpointed"))
    return found


def _check_runs(conn: sqlite3.Connection, db_path: str) -> list[Finding]:
    """Unfinished runs: live (and reachable: their socket is there), or interrupted (with any
    processes their dead engine left)."""
    rows = conn.execute(
        "SELECT id, engine_pid, engine_started FROM runs WHERE finished_at IS NULL "
        "ORDER BY created_at DESC"
    ).fetchall()
    found = []
    procs = processes_by_run() if rows else {}
    for run_id, pid, started in rows:
        if same_process(pid, started):
            found.append(_live_run(db_path, run_id, pid))
            continue
        left = sorted(p.pid for plist in procs.get(run_id, {}).values() for p in plist)
        extra = f"; its tasks' processes still run: {', '.join(map(str, left[:8]))}" if left else ""
        found.append(
            Finding(
                f"run {run_id}",
                "warn",
                f"interrupted (no live engine){extra}; `phasegate resume {run_id}"
                f"{db_flag(db_path)}` takes it over",
            )
        )
    if not rows:
        found.append(Finding("runs", "ok", "no unfinished run"))
    return found


def _live_run(db_path: str, run_id: str, pid: int) -> Finding:
    """A run whose engine lives: `ok` while its socket is there, for commands to reach it."""
    door = socket_path(run_path(db_path, run_id))
    try:
        os.stat(door)
    except FileNotFoundError:
        return Finding(
            f"run {run_id}",
            "warn",
            f"running (engine pid {pid}), but its socket {door} is gone, so no command "
            "reaches it until the engine makes it again (within a second); if it stays gone, "
            f"`kill -KILL {pid}` leaves the run interrupted and `phasegate resume "
            f"{run_id}{db_flag(db_path)}` takes it over",
        )
    except OSError:
        pass  # (a shared run's directory this user may not enter: its engine's to say)
    return Finding(f"run {run_id}", "ok", f"running (engine pid {pid})")


def _check_strays(conn: sqlite3.Connection, db_path: str) -> list[Finding]:
    """Processes that carry the PHASEGATE_RUN_ID of a run of this database that has finished or
    whose engine is dead: what a task left running (its plan said `keep_background`, or it
    escaped its engine), or a command of the run that is no task's (a monitor's check).
    Each with its pid, run, task and command, and how to stop it."""
    procs = processes_by_run(untasked=True)
    found = []
    for run_id, by_task in sorted(procs.items()):
        row = conn.execute(
            "SELECT finished_at, engine_pid, engine_started FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if row is None:
            continue  # a run of another data directory
        finished, pid, started = row
        if finished is None and same_process(pid, started):
            continue  # its engine lives: its tasks run
        why = "has finished" if finished is not None else "has no live engine"
        resume = f"`phasegate resume {run_id}{db_flag(db_path)}`"
        how = "" if finished is not None else f", or {resume} takes it over"
        listed = ((t, n, p) for (t, n), plist in sorted(by_task.items()) for p in plist)
        for task, attempt, proc in sorted(listed, key=lambda x: (x[0], x[1], x[2].pid)):
            whose = (
                f"its task {task} (attempt {attempt})"
                if task
                else "a command of it that is no task's (monitor, criterion, probe, research, "
                "notify)"
            )
            found.append(
                Finding(
                    f"stray pid {proc.pid}",
                    "warn",
                    f"run {run_id} {why}; {whose} left `{_command(proc)}` running; "
                    f"stop it with `kill {proc.pid}`{how}",
                )
            )
    if not found:
        found.append(Finding("processes", "ok", "no task process outlives its run"))
    return found


MAX_LEAKS = 20  # places listed; the rest are counted


def _check_keys(conn: sqlite3.Connection) -> list[Finding]:
    """Anything of a known key shape kept in the database, where it is (never the value)."""
    kept = list(scan(conn))
    found = [Finding("secret in database", "warn", str(leak)) for leak in kept[:MAX_LEAKS]]
    if len(kept) > MAX_LEAKS:
        found.append(
            Finding("secret in database", "warn", f"... and {len(kept) - MAX_LEAKS} more places")
        )
    if found:
        found.append(
            Finding(
                "secret in database",
                "warn",
                "revoke these keys (anyone who could read the database has them); declare "
                "secrets under the plan's `secrets:` so that runs keep only «NAME»",
            )
        )
    else:
        found.append(Finding("secrets", "ok", "nothing of a key shape in events, output, plans"))
    return found


def _command(proc: psutil.Process) -> str:
    try:
        line = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        return "?"
    return line if len(line) <= 120 else line[:119] + "…"


def diagnose(db_path: str) -> list[Finding]:
    return check_directory(db_path) + check_database(db_path)


def _quick_check(db_path: str) -> tuple[sqlite3.Connection, str, bool]:
    """A read-only connection and its `PRAGMA quick_check`. A shared run's database, read by a
    member of its group while no engine has it open, has no WAL shared memory, which a reader
    may not make: it is then read as it is (immutable), as the store reads it
    (engine/store/opening.py open_read_only)."""
    where = "file:" + urllib.parse.quote(os.path.abspath(db_path))
    for mode in ("?mode=ro", "?mode=ro&immutable=1"):
        conn = sqlite3.connect(where + mode, uri=True, timeout=10)
        try:
            found = str(conn.execute("PRAGMA quick_check").fetchone()[0])
            return conn, found, mode.endswith("immutable=1")
        except sqlite3.OperationalError as exc:
            conn.close()
            if "readonly" not in str(exc) or os.path.exists(f"{db_path}-shm"):
                raise
    raise AssertionError("unreachable")  # (the immutable read raises or returns)


def _journal_of(db_path: str) -> str:
    """The journal mode a database file's header says (a read of it as it is says `delete`):
    bytes 18 and 19 are 2 in WAL mode."""
    with open(db_path, "rb") as f:
        header = f.read(20)
    return "wal" if header[18:20] == b"\x02\x02" else "delete"
