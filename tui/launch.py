"""Starting the dashboard: the engine as its own process (`python -m phasegate.engine`), the
app as its client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from phasegate.engine.client import (
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
    return start_engine(Job(found.plan, db_path, run_id, found.variables, chosen))


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
    """The dashboard on a run whose engine this process started; the exit code: the engine's,
    as `run --headless` exits (a run stopped from the dashboard, cancelled: 1)."""
    choice = dashboard(db_path, run_id, color)
    db = db_flag(db_path)
    if choice in ("left", "detached"):
        _say(
            f"run {run_id} goes on in the background (engine pid {engine.pid}); "
            f"`phasegate attach {run_id}{db}` opens it again, "
            f"`phasegate show {run_id}{db}` shows it"
        )
        return 0
    code = engine.wait()
    if code < 0:  # the engine was killed: the run is interrupted, not over
        _say(
            f"run {run_id} was interrupted: its engine was killed by "
            f"{signal.Signals(-code).name}; `phasegate resume {run_id}{db}` takes it over"
        )
        return 1
    _say(f"{asyncio.run(_ending(db_path, run_id))}; `phasegate show {run_id}{db}` for details")
    return code


async def _ending(db_path: str, run_id: str) -> str:
    """How the run ended, in the words of `run --headless`'s last line (`run ID cancelled in
    5.0s: 1 succeeded, 1 cancelled`): the dashboard's `q`, `s` said `ended`, as of a success."""
    try:
        store = await SQLiteStore.open(db_path)
        try:
            row = await store.get_run(run_id)
        finally:
            await store.close()
    except (PhasegateError, OSError, sqlite3.Error):
        row = None
    if row is None or row.finished_at is None:
        return f"run {run_id} ended"
    counts = counts_text(row.counts)
    took = format_duration(row.duration)
    return f"run {run_id} {safe(row.status)} in {took}" + (f": {counts}" if counts else "")


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


def browse(db_path: str, color: str) -> int:
    _app(db_path, None, color)
    return 0
