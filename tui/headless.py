"""`phasegate run --headless`: the engine in the foreground, one log line per transition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable

import click

from engine.model.durations import format_duration
from engine.model.events import Event
from engine.model.state import RunState
from engine.plan.model import Plan
from engine.report.facts import Facts
from engine.run.loop import Runner
from engine.store import SQLiteStore
from engine.store.paths import new_run_id, run_dir

from .text import counts_text, log_line, paint, safe


async def _learn(
    store: SQLiteStore, run_id: str, directory: str, plan: Plan, facts: Facts | None
) -> str | None:
    """The run's reports into its directory, its lessons into the history; a failure here is
    a warning, never a change to the run's outcome."""
    from engine.report.knowledge import learn

    try:
        return (await learn(store, run_id, directory, plan, facts))[0]
    except Exception as exc:  # said, and the run's outcome stands
        click.echo(f"phasegate: warning: the run's report was not written: {exc}", err=True)
        return None


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

    listeners: list[Callable[[Event], None]] = [] if quiet else [printer]
    # the report's facts, gathered as the run goes (a taken-over run's are read back at the end)
    facts = Facts(run_id) if resume is None else None
    if facts is not None:
        listeners.append(facts.add)
    runner = Runner(
        plan,
        store,
        run_id,
        run_dir=run_dir(db_path, run_id),
        variables=variables,
        listeners=listeners,
        resume=resume,
    )
    if facts is not None:
        facts.state = runner.state  # the engine's own fold: not folded twice
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
        written = None
        if state.finished_at is not None:
            written = await _learn(store, run_id, runner.run_dir, plan, facts)
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
    if written and not quiet:
        click.echo(f"report: {written}")
    click.echo(summary)
    if status != "succeeded":
        click.echo(f"  see: phasegate show {run_id}   phasegate logs {run_id} TASK")
    return state, stopped_by[0] if stopped_by else None
