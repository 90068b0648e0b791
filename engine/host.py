"""The engine host: runs one run's Runner headless in this process, start to end.

`python -m phasegate.engine` (the process a front end launches, engine/__main__.py) and `phasegate
run --headless` (in the foreground) both come here. The host opens the store, turns SIGINT and
SIGTERM into a cancel of the run (a second one kills at once), prints one log line per transition
(engine/logline.py), gathers the report's facts as the run goes, writes the reports and lessons at
the end, prints the summary, and returns the final state with the signal that stopped it. It imports
no front end: no click, textual or tui."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import msgspec

from phasegate.engine.logline import counts_text, log_line, one_line, paint, waits_for_a_person
from phasegate.engine.model import events as ev
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.events import Event, RunRecovered
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import GateStatus
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.opening import db_flag
from phasegate.engine.store.paths import check_private, run_dir, share, share_group, shared_with

if TYPE_CHECKING:  # (the plan model is not imported to attach a dashboard: start-up)
    from phasegate.engine.plan.model import Plan
    from phasegate.engine.report.facts import Facts


class Job(msgspec.Struct, frozen=True):
    """One run to host: what a launcher hands the engine process (pickled, the plan parsed and
    validated by the launcher), or what `run --headless` hosts in its own process."""

    plan: Plan
    db_path: str
    run_id: str
    variables: dict[str, str] = {}
    # the operator's decisions for in-flight tasks when taking over a run whose engine died;
    # None: a new run
    resume: dict[str, str] | None = None
    quiet: bool = False
    share: str | None = None  # an OS group that may reach the run (run --share GROUP)
    tty: str = ""  # the launcher's terminal (an engine of its own has none): the audit's "from"


def exit_code(state: RunState, sig: int | None) -> int:
    """The command line's exit code for a hosted run: 130 after Ctrl-C, 143 after SIGTERM
    (128 + the signal), else 0 when it succeeded and 1 when not."""
    if sig is not None:
        return 128 + sig
    return 0 if state.status.value == "succeeded" else 1


LINE_WAIT = 5.0  # seconds a line of what waits for a person waits for its record, at most
_gone: list[bool] = []  # stdout went away: the run goes on, printing nothing more


def _lose_stdout(streams: tuple[int, ...] = (1,)) -> None:
    """Whoever read the log lines is gone (`| head -3`, a terminal closed): the run goes on
    (its events are in the database: `phasegate attach` shows it), its lines go nowhere. A
    failed write had stopped the engine, or left it hung, in the middle of a task's end."""
    if not _gone:
        _gone.append(True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in streams:
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def _lose_terminal() -> None:
    """SIGHUP: the terminal is gone, stderr with it (a warning written there would raise EIO
    in the middle of the run's end): both go nowhere, the run goes on."""
    _lose_stdout((1, 2))


def _say(text: str, err: bool = False) -> None:
    try:
        _print(text, sys.stderr if err else sys.stdout)
    except OSError:
        if not err:
            _lose_stdout()


def _print(text: str, stream: TextIO) -> None:
    """A line on `stream`; what its encoding cannot write (a name not in latin-1, output set
    to it by PYTHONIOENCODING or the locale) replaced, not a traceback that left the run's
    store open and the process hung."""
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        encoding = stream.encoding or "ascii"
        stream.write(text.encode(encoding, "replace").decode(encoding) + "\n")
    stream.flush()


async def _learn(
    store: SQLiteStore, run_id: str, directory: str, plan: Plan, facts: Facts | None
) -> str | None:
    """The run's reports into its directory, its lessons into the history; a failure here is
    a warning, never a change to the run's outcome."""
    from phasegate.engine.report.knowledge import learn

    try:
        return (await learn(store, run_id, directory, plan, facts))[0]
    except Exception as exc:  # said, and the run's outcome stands
        _say(f"phasegate: warning: the run's report was not written: {exc}", err=True)
        return None


async def host(
    job: Job, on_started: Callable[[], None] | None = None
) -> tuple[RunState, int | None]:
    """Run the job's plan (or take over run `job.run_id` whose engine died, when `job.resume`
    is given); `on_started` is called once, when this process holds the run's lease (the
    first event is emitted after the lease is taken). Returns the final state and the signal
    that stopped the run, if any."""
    # (here, not at the top: a launcher imports Job without the run loop)
    from phasegate.engine.report.facts import Facts
    from phasegate.engine.run.loop import Runner

    plan, run_id, quiet = job.plan, job.run_id, job.quiet
    check_private(job.db_path)
    store = await SQLiteStore.open(job.db_path)
    check_private(job.db_path)  # (as created)

    db = db_flag(job.db_path)  # (in the hints: a run in another database is found again)

    def write(line: str) -> None:
        try:
            _print(line, sys.stdout)
        except OSError:  # (the reader went away: `| head`, a closed terminal)
            _lose_stdout()

    # a line of what waits for a person (a gate, a tool request) is printed once its event is
    # in the database, the lines after it behind it: a script that acts on the line at once
    # (`gates --json`, `approve`) found nothing waiting yet, the batch still being written
    held: list[str] = []
    telling: list[asyncio.Task[None]] = []

    def printer(event: Event) -> None:
        line = log_line(event, run_id, db)
        if line is None or _gone:
            return
        if not held and not waits_for_a_person(event):
            write(line)
            return
        held.append(line)
        if len(held) == 1:
            telling.append(asyncio.get_running_loop().create_task(tell_stored()))

    async def tell_stored() -> None:
        # (a database another process keeps locked: said after LINE_WAIT all the same; a lost
        # batch stops the run, and it says so)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(runner.stored()), LINE_WAIT)
        while held and not _gone:
            write(held.pop(0))

    listeners: list[Callable[[Event], None]] = []
    if on_started is not None:
        told: list[bool] = []

        def first(_event: Event) -> None:
            if not told:
                told.append(True)
                on_started()

        listeners.append(first)
    if not quiet:
        listeners.append(printer)
    else:  # (what waits for a person is said all the same)
        listeners.append(lambda event: printer(event) if waits_for_a_person(event) else None)
    if job.resume is not None:

        def still_paused(event: Event) -> None:  # (`runner`: made below, before any event)
            if not isinstance(event, RunRecovered):
                return
            if runner.state.status.value == "paused":
                _say(
                    f"phasegate: run {run_id} stays paused, as it was: "
                    f"`phasegate resume {run_id}{db}` lets it go on"
                )
            # what the run still waits for a person on, said as a fresh run says it (-q too);
            # once the take-over is settled (it refuses a tool request asked of the dead engine)
            asyncio.get_running_loop().call_soon(tell_waiting)

        def tell_waiting() -> None:
            for asked in still_waiting(runner.state, runner.now()):
                printer(asked)

        listeners.append(still_paused)
    # the report's facts, gathered as the run goes (a taken-over run's are read back at the end)
    facts = Facts(run_id) if job.resume is None else None
    if facts is not None:
        listeners.append(facts.add)
    directory = run_dir(job.db_path, run_id)
    gid = shared_with(directory) if job.resume is not None else None
    if job.share is not None:
        gid = share_group(job.share)
    if gid is not None:
        share(job.db_path, directory, gid)
    try:
        runner = Runner(
            plan,
            store,
            run_id,
            share=gid,
            run_dir=directory,
            variables=job.variables,
            listeners=listeners,
            resume=job.resume,
            tty=job.tty,
        )
    except BaseException:  # (a secret refused, say: the store's thread must not hold the exit)
        await store.close()
        raise
    if facts is not None:
        facts.state = runner.state  # the engine's own fold: not folded twice
    stopped_by: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: int, why: str) -> None:
        stopped_by.append(sig)
        _say(f"phasegate: {why}; stopping the run (again to kill at once)", err=True)
        runner.cancel(why)

    loop.add_signal_handler(signal.SIGINT, on_signal, signal.SIGINT, "interrupted by Ctrl-C")
    # the terminal closed (an SSH session dropped): the run goes on, as with the dashboard
    loop.add_signal_handler(signal.SIGHUP, _lose_terminal)
    loop.add_signal_handler(signal.SIGTERM, on_signal, signal.SIGTERM, "stopped by SIGTERM")
    ntasks = sum(len(p.tasks) for p in plan.phases)
    if not quiet:
        verb = "taking over run" if job.resume is not None else "run"
        _say(
            f"phasegate: {verb} {run_id} of {one_line(plan.name)} ({_count(ntasks, 'task')}, "
            f"{_count(len(plan.phases), 'phase')})"
        )
    # run from the plan's workdir, so that no task spawn has to change directory and back; a
    # missing one is made (outside the plan's directory, its last directory only)
    with contextlib.suppress(OSError):
        from phasegate.engine.plan.repo import make_workdir

        make_workdir(plan.base_dir, plan.plan_dir)
        os.chdir(plan.base_dir)
    try:
        state = await runner.run()
        written = None
        if state.finished_at is not None:
            # (the plan as the run last had it: amended, if it was)
            written = await _learn(store, run_id, runner.run_dir, runner.plan, facts)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        loop.remove_signal_handler(signal.SIGHUP)
        for line_told in telling:  # (every line said before the run's last)
            await line_told
        await store.close()
    status = state.status.value
    summary = (
        f"run {run_id} {paint(status, status)} in {format_duration(state.duration)}: "
        f"{counts_text(state.counts())}"
    )
    if state.reason:
        summary += f" ({one_line(state.reason)})"
    if written and not quiet:
        _say(f"report: {written}")
    _say(summary)
    if status != "succeeded":
        _say(f"  see: phasegate show {run_id}{db}   phasegate logs {run_id} TASK{db}")
    return state, stopped_by[0] if stopped_by else None


def still_waiting(state: RunState, now: float) -> list[Event]:
    """What a run waits for a person on, as the events that asked it (their log lines are what a
    fresh run prints): its open manual gates, open tool requests and a risk rule's question."""
    asks: list[Event] = [
        ev.GateOpened(now, g.id, g.attempt, g.criteria, g.evidence_hash, g.approval)
        for g in state.gates.values()
        if g.status is GateStatus.OPEN and g.approval == "manual"
    ]
    asks += [
        ev.PermissionAsked(now, p.id, p.task, p.attempt, p.tool, p.detail, p.reason, p.approvers)
        for p in state.permissions.values()
        if p.status == "open"
    ]
    q = state.question
    if q.get("risk"):
        asks.append(
            ev.RunPaused(now, str(q.get("by", "")), str(q.get("reason", "")), ask=q["risk"])
        )
    return asks


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
