"""Starting the dashboard: the engine as its own process (`python -m phasegate.engine`), the
app as its client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from phasegate.engine.client import (
    RunRow,
    SQLiteStore,
    counts_text,
    db_flag,
    engine_alive,
    new_run_id,
    resolve_run,
    safe,
)
from phasegate.engine.client.engines import EngineDidNotStart, Job, start_engine
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.errors import PhasegateError

if TYPE_CHECKING:
    from phasegate.engine.client.plans import Plan


def _set_colour(mode: str) -> None:
    """Textual reads these when it is imported, so set them first."""
    if mode == "never":
        os.environ["NO_COLOR"] = "1"
    elif mode in ("256", "truecolor"):
        os.environ["TEXTUAL_COLOR_SYSTEM"] = mode


def _app(db_path: str, run_id: str | None, color: str) -> str | None:
    _set_colour(color)
    from phasegate.tui.dashboard.app import PhasegateApp

    return PhasegateApp(db_path, run_id).run()


def take_over(db_path: str, run_id: str) -> subprocess.Popen[bytes]:
    """A new engine for run `run_id`, whose engine died (the dashboard's offer): its saved
    plan, no question asked (a task with `on_resume: ask` needs `phasegate resume --decide`)."""
    from phasegate.tui.cli.resume import decisions, inspect

    try:
        found = asyncio.run(inspect(db_path, run_id))
        if found.plan is None:
            raise EngineDidNotStart(
                f"run {run_id} has a live engine or has ended: nothing to take over"
            )
        chosen = decisions(found, (), prompt=False)
    except EngineDidNotStart:
        raise
    except PhasegateError as exc:
        raise EngineDidNotStart(str(exc)) from exc
    engine = start_engine(Job(found.plan, db_path, run_id, found.variables, chosen))
    TAKEN.setdefault(run_id, []).append(engine)  # (`watch` waits for it, as for its own)
    return engine


# run id -> the engines this process started to take the run over (the dashboard's `r`),
# oldest first: `phasegate run` waits for the newest and tells its pid, not its first engine's
TAKEN: dict[str, list[subprocess.Popen[bytes]]] = {}


def _announce(run_id: str, engine: subprocess.Popen[bytes], db_path: str) -> None:
    click.echo(run_id)
    click.echo(
        f"run {run_id} goes on in the background (engine pid {engine.pid}); "
        f"`phasegate attach {run_id}{db_flag(db_path)}` opens its dashboard",
        err=True,
    )


def run_detached(
    plan: Plan, db_path: str, variables: dict[str, str], share: str | None = None
) -> int:
    """`run --detach`: start the engine, print the run id, leave it going."""
    run_id = new_run_id()
    _announce(run_id, start_engine(Job(plan, db_path, run_id, variables, share=share)), db_path)
    return 0


def run_with_dashboard(
    plan: Plan, db_path: str, variables: dict[str, str], color: str, share: str | None = None
) -> int:
    """Start the run's engine in its own session, open the dashboard on it; the exit code."""
    run_id = new_run_id()
    engine = start_engine(Job(plan, db_path, run_id, variables, share=share))
    return watch(db_path, run_id, engine, color)


def watch(
    db_path: str,
    run_id: str,
    engine: subprocess.Popen[bytes],
    color: str,
    dashboard: Callable[[str, str | None, str], str | None] = _app,
) -> int:
    """The dashboard on a run whose engine this process started; the exit code, as `run
    --headless` exits (a run stopped from the dashboard, cancelled: 1). The store says how the
    run is: its engine may have died and been taken over since (the dashboard's `r`, or
    `phasegate resume` elsewhere), and the engine started here is then not the run's."""
    choice = dashboard(db_path, run_id, color)
    db = db_flag(db_path)
    engines = [engine, *TAKEN.pop(run_id, [])]
    row = _row(db_path, run_id)
    detached = choice in ("left", "detached")
    if detached and row is not None and row.finished_at is None and engine_alive(row):
        for e in engines:
            e.poll()  # (a dead one reaped; the live one goes on in its own session)
        _say(
            f"run {run_id} goes on in the background (engine pid {row.engine_pid}); "
            f"`phasegate attach {run_id}{db}` opens it again, "
            f"`phasegate show {run_id}{db}` shows it"
        )
        return 0
    if row is None and detached:  # (the store cannot be read: what this process knows)
        _say(
            f"run {run_id} goes on in the background (engine pid {engines[-1].pid}); "
            f"`phasegate attach {run_id}{db}` opens it again"
        )
        return 0
    if not detached:
        row = _await_end(db_path, run_id, engines)
    # every engine this process started has ended (or is ending: the run has): reap them
    codes = {e.pid: e.wait() for e in engines}
    last = codes[engines[-1].pid]
    if row is None:
        row = _row(db_path, run_id)
    if row is None and last >= 0:  # (the store cannot be read: the engine's word)
        _say(f"run {run_id} ended; `phasegate show {run_id}{db}` for details")
        return last
    if row is None or row.finished_at is None:  # no engine holds the run: interrupted
        code = codes.get(row.engine_pid or 0) if row is not None else last
        how = "is not running"
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        elif code is not None:
            how = f"stopped (exit code {code})"
        _say(
            f"run {run_id} was interrupted: its engine {how}; "
            f"`phasegate resume {run_id}{db}` takes it over"
        )
        return 1
    _say(f"{_ending(row)}; `phasegate show {run_id}{db}` for details")
    if last in (128 + signal.SIGINT, 128 + signal.SIGTERM):  # (stopped by it: 130, 143)
        return last
    return 0 if row.status == "succeeded" else 1


END_POLL = 0.2  # seconds between two reads of a run whose engine is another process's


def _await_end(db_path: str, run_id: str, engines: list[subprocess.Popen[bytes]]) -> RunRow | None:
    """The run's row once it has ended, or once no live engine holds it (interrupted): the
    engine holding it is waited for (one of `engines`, or another process's, such as
    `phasegate resume`'s, whose end is read from the store). None if the store is unreadable."""
    while True:
        row = _row(db_path, run_id)
        if row is None or row.finished_at is not None or not engine_alive(row):
            return row
        ours = next((e for e in engines if e.pid == row.engine_pid), None)
        if ours is not None:
            ours.wait()
        else:
            time.sleep(END_POLL)


def _row(db_path: str, run_id: str) -> RunRow | None:
    async def read() -> RunRow | None:
        store = await SQLiteStore.open(db_path)
        try:
            return await store.get_run(run_id)
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except (PhasegateError, OSError, sqlite3.Error):
        return None


def _ending(row: RunRow) -> str:
    """How the run ended, in the words of `run --headless`'s last line (`run ID cancelled in
    5.0s: 1 succeeded, 1 cancelled`): the dashboard's `q`, `s` said `ended`, as of a success."""
    counts = counts_text(row.counts)
    took = format_duration(row.duration)
    return f"run {row.id} {safe(row.status)} in {took}" + (f": {counts}" if counts else "")


def _say(text: str) -> None:
    """A last line after the dashboard, on a terminal that may be gone (its window closed: the
    dashboard left because of it; the line is for nobody, and no traceback either)."""
    with contextlib.suppress(OSError):
        click.echo(text)


async def _pick(db_path: str, ref: str | None) -> str:
    store = await SQLiteStore.open(db_path)
    try:
        if ref is not None:
            return (await resolve_run(store, ref)).id
        rows = await store.list_runs(50)
        for row in rows:
            if row.finished_at is None and engine_alive(row):
                return row.id
        return (await resolve_run(store, "last")).id
    finally:
        await store.close()


def attach_dashboard(db_path: str, ref: str | None, color: str) -> int:
    try:
        run_id = asyncio.run(_pick(db_path, ref))
    except PhasegateError as exc:
        click.echo(f"phasegate: {exc}", err=True)
        return exc.exit_code
    if _app(db_path, run_id, color) in ("left", "detached"):
        db = db_flag(db_path)
        _say(f"run {run_id} goes on; `phasegate attach {run_id}{db}` opens it again")
    return 0


async def _readable(db_path: str) -> None:
    """The database opens, and its runs can be listed (as the run browser lists them)."""
    store = await SQLiteStore.open(db_path)
    try:
        await store.list_runs(500)
    finally:
        await store.close()


def browse(db_path: str, color: str) -> int:
    """The run browser; a database it cannot read is said in one line, exit as `runs` does
    (`phasegate: database ...`), before the dashboard takes the terminal."""
    try:
        asyncio.run(_readable(db_path))
    except PhasegateError as exc:
        click.echo(f"phasegate: {safe(str(exc))}", err=True)
        return exc.exit_code
    _app(db_path, None, color)
    return 0
