"""Starting the dashboard: the engine as its own process, the app as its client."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import click

from engine.model.errors import PhasegateError
from engine.store import SQLiteStore
from engine.store.base import resolve_run
from engine.store.paths import new_run_id, run_dir

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


async def _wait_for_engine(db_path: str, run_id: str, engine: subprocess.Popen[bytes]) -> bool:
    """Wait until the engine child holds the run's lease, or has run it to its end; False when
    it exited without taking the run."""
    store = await SQLiteStore.open(db_path)
    try:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT
        while time.monotonic() < deadline:
            row = await store.get_run(run_id)
            # (a short run may be over, its lease released, before this first looks)
            if row is not None and (row.engine_pid == engine.pid or row.finished_at is not None):
                return True
            if engine.poll() is not None:
                return False
            await asyncio.sleep(0.05)
        return False
    finally:
        await store.close()


class EngineDidNotStart(PhasegateError):
    """The engine child exited, or did not take the run in time; the message has its log."""


def start_engine(db_path: str, run_id: str, args: list[str]) -> subprocess.Popen[bytes]:
    """Start `phasegate ARGS --headless` as the run's engine, in its own session (closing the
    terminal or dropping SSH does not stop it), its output in the run directory's engine.log.
    Raises EngineDidNotStart (with the log's tail) when it does not take the run."""
    log_path = os.path.join(run_dir(db_path, run_id), "engine.log")
    argv = [sys.executable, "-m", "tui.cli", *args, "--headless", "--db", db_path]
    with open(log_path, "ab") as log:
        engine = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if asyncio.run(_wait_for_engine(db_path, run_id, engine)):
        return engine
    with open(log_path, errors="replace") as f:
        tail = f.read()[-2000:]
    if engine.poll() is None:
        engine.terminate()
    raise EngineDidNotStart(f"the engine did not start the run; its log ({log_path}):\n{tail}")


def _run_args(plan: str, run_id: str, variables: tuple[str, ...]) -> list[str]:
    args = ["run", os.path.abspath(plan), "--run-id", run_id]
    for v in variables:
        args += ["--var", v]
    return args


def run_detached(plan: str, db_path: str, variables: tuple[str, ...]) -> int:
    """`run --detach`: start the engine, print the run id, leave it going."""
    run_id = new_run_id()
    engine = start_engine(db_path, run_id, _run_args(plan, run_id, variables))
    click.echo(run_id)
    click.echo(
        f"run {run_id} goes on in the background (engine pid {engine.pid}); "
        f"`phasegate attach {run_id}` opens its dashboard",
        err=True,
    )
    return 0


def run_with_dashboard(plan: str, db_path: str, variables: tuple[str, ...], color: str) -> int:
    """Start the run's engine in its own session, open the dashboard on it; the exit code."""
    run_id = new_run_id()
    engine = start_engine(db_path, run_id, _run_args(plan, run_id, variables))
    return watch(db_path, run_id, engine, color)


def watch(db_path: str, run_id: str, engine: subprocess.Popen[bytes], color: str) -> int:
    """The dashboard on a run whose engine this process started; the exit code."""
    choice = _app(db_path, run_id, color)
    if choice in ("left", "detached"):
        click.echo(
            f"run {run_id} goes on in the background (engine pid {engine.pid}); "
            f"`phasegate attach {run_id}` opens it again, `phasegate show {run_id}` shows it"
        )
        return 0
    code = engine.wait()
    if code < 0:  # the engine was killed: the run is interrupted, not over
        click.echo(
            f"run {run_id} was interrupted: its engine was killed by "
            f"{signal.Signals(-code).name}; `phasegate resume {run_id}` takes it over"
        )
        return 1
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
    if _app(db_path, run_id, color) in ("left", "detached"):
        click.echo(f"run {run_id} goes on; `phasegate attach {run_id}` opens it again")
    return 0


def browse(db_path: str, color: str) -> int:
    _app(db_path, None, color)
    return 0
