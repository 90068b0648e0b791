"""`phasegate run --headless`: the engine in the foreground, one log line per transition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

import click

from engine.durations import format_duration
from engine.events import Event
from engine.paths import new_run_id, run_dir
from engine.plan.model import Plan
from engine.runner import Runner
from engine.state import RunState
from engine.store import SQLiteStore

from .text import counts_text, log_line, paint, safe


async def run_headless(
    plan: Plan,
    db_path: str,
    variables: dict[str, str],
    quiet: bool,
    run_id: str | None = None,
    resume: dict[str, str] | None = None,
) -> tuple[RunState, int | None]:
    """Run the plan (or take over run `run_id` whose engine died, when `resume` is given, with
    the operator's decisions); returns the final state and the signal that stopped it, if any."""
    store = await SQLiteStore.open(db_path)
    run_id = run_id or new_run_id()
    out = sys.stdout

    def printer(event: Event) -> None:
        line = log_line(event, run_id)
        if line is not None:
            out.write(line + "\n")
            out.flush()

    runner = Runner(
        plan,
        store,
        run_id,
        run_dir=run_dir(db_path, run_id),
        variables=variables,
        listeners=[] if quiet else [printer],
        resume=resume,
    )
    stopped_by: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: int, why: str) -> None:
        stopped_by.append(sig)
        click.echo(f"phasegate: {why}; stopping the run (again to kill at once)", err=True)
        runner.cancel(why)

    loop.add_signal_handler(signal.SIGINT, on_signal, signal.SIGINT, "interrupted by Ctrl-C")
    loop.add_signal_handler(signal.SIGTERM, on_signal, signal.SIGTERM, "stopped by SIGTERM")
    ntasks = sum(len(p.tasks) for p in plan.phases)
    if not quiet:
        verb = "taking over run" if resume is not None else "run"
        click.echo(
            f"phasegate: {verb} {run_id} of {safe(plan.name)} ({ntasks} tasks, "
            f"{len(plan.phases)} phases)"
        )
    # run from the plan's workdir, so that no task spawn has to change directory and back
    with contextlib.suppress(OSError):
        os.makedirs(plan.base_dir, exist_ok=True)
        os.chdir(plan.base_dir)
    try:
        state = await runner.run()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        await store.close()
    status = state.status.value
    summary = (
        f"run {run_id} {paint(status, status)} in {format_duration(state.duration)}: "
        f"{counts_text(state.counts())}"
    )
    if state.reason:
        summary += f" ({safe(state.reason)})"
    click.echo(summary)
    if status != "succeeded":
        click.echo(f"  see: phasegate show {run_id}   phasegate logs {run_id} TASK")
    return state, stopped_by[0] if stopped_by else None
