"""Runs as front ends meet them (the body of engine.client, which names these lazily): open
a store, find and read runs, send a command to the run's engine through its socket (the engine
learns from the kernel which OS user sent it) and wait for the engine's answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable

import msgspec

from phasegate.engine.exec.group import same_process as same_process
from phasegate.engine.logline import counts_text as counts_text
from phasegate.engine.logline import log_line as log_line
from phasegate.engine.logline import one_line as one_line
from phasegate.engine.logline import paint as paint
from phasegate.engine.logline import safe as safe
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Command, Resume, args_of
from phasegate.engine.model.errors import PhasegateError, UsageError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.state import PhaseState, RunState
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.run.channel import MAX_REQUEST
from phasegate.engine.store import SQLiteStore as SQLiteStore
from phasegate.engine.store.base import RunRow as RunRow
from phasegate.engine.store.base import resolve_run as resolve_run
from phasegate.engine.store.opening import check_database as check_database
from phasegate.engine.store.opening import db_flag as db_flag
from phasegate.engine.store.opening import default_db_path as default_db_path
from phasegate.engine.store.paths import bindable, run_path, socket_path
from phasegate.engine.store.paths import check_private as check_private
from phasegate.engine.store.paths import check_reachable as check_reachable
from phasegate.engine.store.paths import new_run_id as new_run_id
from phasegate.engine.store.paths import run_dir as run_dir
from phasegate.engine.store.paths import share_group as share_group

ANSWER_TIMEOUT = 30.0
# an answer echoes the event it made, which holds the command's text (a reason) once or twice:
# read it with room to spare over the engine's own limit on a command (asyncio's 64 KiB
# default cut off an answer to a long reason after the engine had applied it)
ANSWER_LIMIT = 8 * MAX_REQUEST
ANSWER_POLL = 0.1
ENDED_GRACE = 2.0  # after the run's end, the engine answers what is left in its inbox


class NoAnswer(PhasegateError):
    """The engine did not answer a command in time (exit 1)."""


class NoEngine(PhasegateError):
    """No engine holds the run to take a command, or its socket is not open to this user."""


class CommandRefused(PhasegateError):
    """The engine refused to take the command at all (exit 1)."""


class TakeOverRefused(PhasegateError):
    """This OS user cannot take over the run whose engine died: the message names who can
    (exit 1, as a command refused by policy)."""


def taker(db_path: str) -> str | None:
    """Who alone can take over an interrupted run of the database at `db_path`, when it is not
    this OS user (None: this user may). A take-over starts an engine that writes the database,
    and an engine writes only its own user's (paths.check_private): a shared run's group reads
    the database, its owner (the run's starter) writes it, so no operator takes a run over."""
    if db_path == ":memory:":
        return None
    owner = None  # (as check_private: the directory and the file must both be this user's)
    for path in (db_path, os.path.dirname(os.path.abspath(db_path))):  # (the file's first)
        with contextlib.suppress(OSError):
            found = os.stat(path).st_uid
            if found != os.geteuid():
                owner = found
                break
    if owner is None:
        return None
    import pwd

    try:
        return pwd.getpwuid(owner).pw_name
    except KeyError:
        return f"uid {owner}"


def take_over_hint(db_path: str, run_id: str, starter: str = "") -> str:
    """What takes over the interrupted run `run_id`, told to this user: `phasegate resume`
    when they can, else who can ("only alice (the run's starter) can take it over: ...", with
    `--db` whatever this user's PHASEGATE_DB: the command is for alice)."""
    who = taker(db_path)
    if who is None:
        return f"`phasegate resume {run_id}{db_flag(db_path)}` takes it over"
    role = "the run's starter" if who == starter else "the owner of its database"
    return (
        f"only {safe(who)} ({role}) can take it over: "
        f"`phasegate resume {run_id} --db {safe(shlex.quote(db_path))}`"
    )


def check_take_over(db_path: str, row: RunRow) -> None:
    """TakeOverRefused, naming who can, when this user cannot take over the interrupted run
    (before anything is started: the engine would refuse the database, or its log)."""
    who = taker(db_path)
    if who is not None:
        raise TakeOverRefused(
            f"run {row.id} was interrupted (its engine stopped), and "
            f"{take_over_hint(db_path, row.id, row.user)} (the new engine writes the run's "
            f"database, {safe(who)}'s alone); nothing was done"
        )


def engine_alive(row: RunRow) -> bool:
    """Is the run's engine process still the one that took the lease?"""
    return same_process(row.engine_pid, row.engine_started)


def shown_status(row: RunRow, status: str | None = None) -> str:
    """The run's status as users see it: an unfinished run without a live engine is
    `interrupted` (`phasegate resume` takes it over)."""
    status = status or row.status
    live = ("pending", "running", "paused")
    if row.finished_at is None and status in live and not engine_alive(row):
        return "interrupted"
    return status


def paused_phases(state: RunState) -> list[PhaseState]:
    """The phases paused alone (by `pause --phase`, or a risk rule's `pause` action, by
    `risk:RULE`) that have not ended: none of their tasks starts until each is resumed, while
    the run itself says `running`."""
    if state.finished_at is not None:
        return []
    return [p for p in state.phases.values() if p.held and not p.status.ended]


def resumes(state: RunState) -> list[Command]:
    """What going on sends (`phasegate resume RUN`, the dashboard's `p`): a paused run is
    resumed (its phases paused alone stay so); otherwise each phase paused alone is. [] when
    nothing is paused."""
    if state.finished_at is not None:
        return []
    if state.status is RunStatus.PAUSED:
        return [Resume()]
    return [Resume(p.id) for p in paused_phases(state)]


def stalled(state: RunState) -> bool:
    """Nothing runs, and nothing starts until a person resumes the paused run or the phase under
    way (paused alone): the forecast's time left holds meanwhile (the engine records it as
    `still`), so front ends say the ETA is paused instead of showing it frozen."""
    if state.finished_at is not None:
        return False
    if any(t.status is TaskStatus.RUNNING for t in state.tasks.values()):
        return False
    if state.status is RunStatus.PAUSED:
        return True
    under_way = next((p for p in state.phases.values() if not p.status.ended), None)
    return under_way is not None and under_way.held


def elapsed(row: RunRow, state: RunState) -> float | None:
    """How long the run took, or has taken so far: to its end; to now while its engine runs;
    to its last sign of life (heartbeat or event) once interrupted, so that `runs` and `show`
    agree and an interrupted run's time does not grow with the clock."""
    started = state.started_at or row.started_at
    if started is None:
        return None
    if state.finished_at is not None:
        return state.finished_at - started
    if row.finished_at is not None:
        return row.finished_at - started
    if engine_alive(row):
        return max(time.time(), started) - started
    return (state.last_seen(row.heartbeat_at) or started) - started


FOLD_AT_MOST = 20_000  # events folded to list an interrupted run (more: its row's counts)


async def known(store: SQLiteStore, row: RunRow) -> RunRow:
    """A run's row as far as it is known. The row holds counts and a heartbeat as of the
    engine's last heartbeat: a run just started (`run --detach`) has none yet, and an
    interrupted run's last events came after it. The counts are then read from the events
    (the newest snapshot and those after it, when they are at most FOLD_AT_MOST: a listing
    stays fast), and its time runs to its newest event; a finished run's row is whole."""
    from phasegate.engine.model.snapshot import fold_from, snapshot_format

    if row.finished_at is not None:
        return row
    alive = engine_alive(row)
    if row.counts and alive:
        return msgspec.structs.replace(row, heartbeat_at=max(row.heartbeat_at or 0.0, time.time()))
    last = await store.last_event(row.id)
    state = RunState(started_at=row.started_at, last_event_at=last[1] if last else None)
    if last is not None:
        found = await store.latest_snapshot(row.id, snapshot_format())
        if not row.counts or last[0] - (found[0] if found else 0) <= FOLD_AT_MOST:
            state, _ = await fold_from(store, row.id, found)
            row = msgspec.structs.replace(row, counts=state.counts())
    row = msgspec.structs.replace(row, started_at=row.started_at or state.started_at)
    end = elapsed(row, state)
    if row.started_at is not None and end is not None:
        row = msgspec.structs.replace(row, heartbeat_at=row.started_at + end)
    return row


async def send(store: SQLiteStore, run_id: str, command: Command) -> int:
    """Hand the command to the run's engine through the run's socket; the engine judges it
    (as the OS user this process runs as) and answers with an event naming the returned number.
    NoEngine when no engine holds the run or its socket is closed to this user."""
    return (await deliver(store, run_id, command))[0]


async def deliver(
    store: SQLiteStore, run_id: str, command: Command, again: bool = True
) -> tuple[int, ev.Event | None]:
    """Send the command; (its number, the event that answered it there and then, if any)."""
    path = socket_path(run_path(store.path, run_id))
    who = current_identity()
    request = {
        "kind": command.kind.value,
        "args": args_of(command),
        "context": {"tty": who.tty, "ssh": who.ssh},
    }
    payload = json.dumps(request).encode()
    if len(payload) > MAX_REQUEST:  # (the engine would refuse it unread: say why, send nothing)
        raise UsageError(_too_long(command, len(payload)))
    name, fd = bindable(path) if os.path.isdir(os.path.dirname(path)) else (path, None)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(name, limit=ANSWER_LIMIT), 10.0
        )
    except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as exc:
        row = await store.get_run(run_id)
        gone = isinstance(exc, FileNotFoundError)
        if gone and again and row is not None and row.finished_at is None and engine_alive(row):
            # its socket closed: the engine makes it again (within a second), or the run is
            # ending (the socket goes first): which, once it is known
            row = await _socket_or_end(store, run_id, path, row)
            if os.path.exists(path):
                return await deliver(store, run_id, command, again=False)
        if gone and row is not None and row.finished_at is None and engine_alive(row):
            raise NoEngine(
                f"the engine of run {run_id} (pid {row.engine_pid}) lives but its socket {path} "
                "is gone; it re-creates it within a second — try again; nothing was done"
            ) from None
        if isinstance(exc, TimeoutError) and row is not None and engine_alive(row):
            raise NoAnswer(
                f"the engine of run {run_id} (pid {row.engine_pid}) has not taken the "
                "connection within 10s (busy, or stopped); nothing was sent: try again"
            ) from None
        starter = row.user if row is not None else ""
        raise NoEngine(
            f"no engine holds run {run_id} now, so nothing was done; if it was interrupted, "
            f"{take_over_hint(store.path, run_id, starter)} "
            f"(`phasegate show {run_id}{db_flag(store.path)}` says how it is)"
        ) from None
    except PermissionError:
        raise NoEngine(
            f"{who.user} cannot reach the engine of run {run_id}: its socket {path} is not "
            "shared with you (its starter can share a run: `phasegate run PLAN --share GROUP`)"
        ) from None
    finally:
        if fd is not None:
            os.close(fd)
    try:
        writer.write(payload + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT)
    except ConnectionError:
        line = b""
    except TimeoutError:  # (busy or stopped, not gone: it may still take the command)
        raise _slow(store.path, run_id, command) from None
    except asyncio.CancelledError:  # (Ctrl-C while the engine has not answered: said, as above)
        with contextlib.suppress(OSError, ValueError):
            print(f"phasegate: {_sent_unanswered(store.path, run_id, command)}", file=sys.stderr)
        raise
    except (asyncio.LimitOverrunError, ValueError):  # (longer than ANSWER_LIMIT: taken, though)
        raise NoAnswer(
            f"the engine of run {run_id} took the command, but its answer was too long to "
            f"read; `phasegate show {run_id}{db_flag(store.path)}` says how the run is"
        ) from None
    finally:
        writer.close()
    try:
        answer = json.loads(line)
    except ValueError:
        raise await _unanswered(store, run_id) from None
    if "error" in answer:
        raise CommandRefused(f"refused: {answer['error']}")
    if "unrecorded" in answer:  # (taken and applied, but not written down)
        raise NoAnswer(
            f"the engine of run {run_id} took the {command.kind.value} command but could not "
            f"record it: {answer['unrecorded']}; `phasegate show {run_id}{db_flag(store.path)}` "
            "says how it ended"
        )
    found = answer.get("event")
    event = None
    if isinstance(found, dict):
        event = ev.from_json(found["type"], found["ts"], found["v"], found["data"])
    return int(answer["id"]), event


async def _socket_or_end(store: SQLiteStore, run_id: str, path: str, row: RunRow) -> RunRow:
    """The run's row once its engine's socket is back or its run has ended (or ENDED_GRACE
    later, as it then is)."""
    deadline = time.monotonic() + ENDED_GRACE
    while time.monotonic() < deadline and not os.path.exists(path):
        await asyncio.sleep(ANSWER_POLL)
        row = await store.get_run(run_id) or row
        if row.finished_at is not None or not engine_alive(row):
            break
    return row


def _too_long(command: Command, size: int) -> str:
    """Why a command is not sent: what makes it longer than the engine takes."""
    texts = {k: v for k, v in args_of(command).items() if isinstance(v, str)}
    longest = max(texts, key=lambda k: len(texts[k]), default="")
    what = f"its {longest} ({len(texts[longest].encode()):,} bytes)" if longest else "it"
    return (
        f"the {command.kind.value} command is {size:,} bytes and the engine takes at most "
        f"{MAX_REQUEST:,} ({MAX_REQUEST // 1024} KiB): shorten {what}; nothing was sent"
    )


def _slow(db_path: str, run_id: str, command: Command) -> NoAnswer:
    """The engine took the connection and did not answer in ANSWER_TIMEOUT: it is busy, or
    stopped (SIGSTOP, a suspended machine), and it reads the command once it goes on."""
    said = f"has not answered within {ANSWER_TIMEOUT:g}s (busy, or stopped)"
    return NoAnswer(_sent_unanswered(db_path, run_id, command, said))


def _sent_unanswered(
    db_path: str, run_id: str, command: Command, said: str = "had not answered yet"
) -> str:
    db = db_flag(db_path)
    check = f"`phasegate audit {run_id}{db}`"
    if command.kind.value in ("approve", "reject"):
        check = f"`phasegate gates {run_id}{db}` or {check}"
    return (
        f"the engine of run {run_id} {said}: it has the {command.kind.value} command and may "
        f"still apply it once it goes on; {check} says whether it did, before you send it again"
    )


async def _unanswered(store: SQLiteStore, run_id: str) -> NoAnswer:
    """Why the engine closed a connection without an answer: the run ended as the command
    came (the engine answers what it took, and stops taking more), or something else."""
    deadline = time.monotonic() + ENDED_GRACE * 2
    while time.monotonic() < deadline:
        row = await store.get_run(run_id)
        if row is not None and row.finished_at is not None:
            return NoAnswer(
                f"run {run_id} ended ({row.status}) before its engine took the command; "
                "nothing was done"
            )
        if row is None or not engine_alive(row):
            break
        await asyncio.sleep(ANSWER_POLL)
    return NoAnswer(
        f"the engine of run {run_id} closed the connection without an answer; "
        "check it with `phasegate show`"
    )


async def ask(
    store: SQLiteStore,
    run_id: str,
    command: Command,
    answers: Callable[[ev.Event, int], bool],
    timeout: float = ANSWER_TIMEOUT,
) -> ev.Event:
    """Send the command and wait for the event that answers it (`answers(event, sent id)`)."""
    seen = await store.read_events(run_id)
    cursor = seen[-1][0] if seen else 0
    sent, answer = await deliver(store, run_id, command)
    if answer is not None and answers(answer, sent):
        return answer
    deadline = time.monotonic() + timeout
    over = any(isinstance(e, ev.RunFinished) for _, e in reversed(seen))
    ended: float | None = time.monotonic() if over else None  # when the run's end was seen
    while time.monotonic() < deadline:
        fresh = await store.read_events(run_id, cursor)
        if fresh:
            cursor = fresh[-1][0]
        for _, event in fresh:
            if answers(event, sent):
                return event
            if isinstance(event, ev.RunFinished) and ended is None:
                ended = time.monotonic()
        if ended is not None and time.monotonic() - ended > ENDED_GRACE:
            raise NoAnswer(
                f"run {run_id} ended before its engine took the command; nothing was done"
            )
        await asyncio.sleep(ANSWER_POLL)
    db = db_flag(store.path)
    raise NoAnswer(
        f"the engine of run {run_id} took the {command.kind.value} command but has not "
        f"answered within {timeout:g}s (busy, or stopped): it may still apply it; "
        f"`phasegate audit {run_id}{db}` says whether it did, before you send it again"
    )


async def verify_chain(
    store: SQLiteStore, run_id: str, notes: list[str] | None = None
) -> tuple[int, list[str]]:
    """The run's event count and what is wrong with its hash chain, the anchor of its end and
    its row ([] when all hold); what could not be verified is added to `notes`."""
    from phasegate.engine.store.chain import verify

    rows = await store.chained_events(run_id)
    return len(rows), verify(run_id, rows, await store.run_facts(run_id), notes)
