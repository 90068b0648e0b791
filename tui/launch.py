"""Starting the dashboard: the engine as its own process, the app as its client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import click

from engine.errors import PhasegateError
from engine.paths import new_run_id, run_dir
from engine.store import SQLiteStore
from engine.store.base import resolve_run

ENGINE_START_TIMEOUT = 20.0


def _set_colour(mode: str) -> None:
    """Textual reads these when it is imported, so set them first."""
    if mode == "never":
        os.environ["NO_COLOR"] = "1"
    elif mode in ("256", "truecolor"):
        os.environ["TEXTUAL_COLOR_SYSTEM"] = mode


def _app(db_path: str, run_id: str | None, color: str) -> str | None:
    _set_colour(color)
    from .app import PhasegateApp

    return PhasegateApp(db_path, run_id).run()


async def _wait_for_run(db_path: str, run_id: str, engine: subprocess.Popen[bytes]) -> bool:
    store = await SQLiteStore.open(db_path)
    try:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT
        while time.monotonic() < deadline:
            if await store.get_run(run_id) is not None:
                return True
            if engine.poll() is not None:
                return False
            await asyncio.sleep(0.05)
        return False
    finally:
        await store.close()


def run_with_dashboard(plan: str, db_path: str, variables: tuple[str, ...], color: str) -> int:
    """Start the run's engine in its own session, open the dashboard on it; the exit code."""
    run_id = new_run_id()
    directory = run_dir(db_path, run_id)
    log_path = os.path.join(directory, "engine.log")
    argv = [
        sys.executable,
        "-m",
        "tui.cli",
        "run",
        os.path.abspath(plan),
        "--headless",
        "--run-id",
        run_id,
        "--db",
        db_path,
    ]
    for v in variables:
        argv += ["--var", v]
    with open(log_path, "ab") as log:
        engine = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if not asyncio.run(_wait_for_run(db_path, run_id, engine)):
        with open(log_path, errors="replace") as f:
            tail = f.read()[-2000:]
        click.echo(
            f"phasegate: the engine did not start the run; its log ({log_path}):\n{tail}", err=True
        )
        return engine.poll() or 1
    choice = _app(db_path, run_id, color)
    if choice == "left":
        click.echo(
            f"run {run_id} goes on in the background (engine pid {engine.pid}); "
            f"`phasegate attach {run_id}` opens it again, `phasegate show {run_id}` shows it"
        )
        return 0
    code = engine.wait()
    click.echo(f"run {run_id} ended; `phasegate show {run_id}` for details")
    return code


async def _pick(db_path: str, ref: str | None) -> str:
    from .views import engine_alive

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
    _app(db_path, run_id, color)
    return 0


def browse(db_path: str, color: str) -> int:
    _app(db_path, None, color)
    return 0
