"""The commands that steer a live run and answer it: gates, approve, reject, audit, risks, skip,
retry, cancel, pause, resume, priority, slots, note, feedback (added to the group in main.py)."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import click

from phasegate.engine.model.errors import PlanError
from phasegate.tui.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MAX_PRIORITY,
    MAX_SLOTS,
    _db_path,
    _fail,
    _host,
    _print_problems,
    _run_async,
    color_option,
    db_option,
    json_option,
)

if TYPE_CHECKING:
    from phasegate.engine.model.commands import Command


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A number of seconds: `nan` passes FloatRange(min=0) (it compares false) and would wait
    for ever; `inf` says the same as no --timeout."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(
            f"{value} is not a number of seconds; give one of 0 or more, or leave --timeout "
            "out to wait without a limit",
            ctx=ctx,
            param=param,
        )
    return value


@click.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option(
    "--wait",
    is_flag=True,
    help="Block until a gate you may decide waits (in RUN, or in any live run); show it.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    callback=_finite,
    metavar="SECONDS",
    help="With --wait: give up after SECONDS (exit 1).",
)
@db_option
@json_option
def gates(
    run_ref: str | None, wait: bool, timeout: float | None, db: str | None, as_json: bool
) -> None:
    """Gates waiting for a decision, across active runs; with RUN, every gate of that run.

    With --wait: block until a gate that you (your OS user) may decide waits, in RUN or in any
    live run, show the gates waiting for you as above and exit 0. Exit 1 when --timeout
    passes or RUN ends first, 130 on Ctrl-C. In a script:

    \b
      phasegate gates --wait --timeout 3600 && notify-send "a gate waits for you"
    """
    from phasegate.tui.cli.gates import list_gates, wait_for_gates

    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    if not wait:
        click.echo(_run_async(lambda: list_gates(_db_path(db), run_ref, as_json)))
        return
    try:
        # (waiting for any run's gate may start before the first run made the database: it
        # waits for it, and creates none)
        path = _db_path(db, "read" if run_ref is not None else "any")
        click.echo(_run_async(lambda: wait_for_gates(path, run_ref, as_json, timeout)))
    except KeyboardInterrupt:
        click.echo("phasegate: stopped waiting for a gate", err=True)
        sys.exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("gate")
@click.option("--reason", default="", help="Why (recorded in the audit trail).")
@click.option(
    "--for-task",
    is_flag=True,
    help="A coding agent's tool request: allow this tool for the rest of its task.",
)
@db_option
def approve(run_ref: str, gate: str, reason: str, for_task: bool, db: str | None) -> None:
    """Approve GATE of RUN (or allow a coding agent's tool request, listed by `gates`) as the
    OS user you are; waits for the engine's answer."""
    from phasegate.engine.model import commands as cmd
    from phasegate.tui.cli.gates import decide

    order = cmd.Approve(gate, reason, scope="task" if for_task else "")
    click.echo(_run_async(lambda: decide(_db_path(db), run_ref, order)))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("gate")
@click.option("--reason", required=True, help="Why (required; tasks that run again see it).")
@db_option
def reject(run_ref: str, gate: str, reason: str, db: str | None) -> None:
    """Reject GATE of RUN with a reason (or deny a coding agent's tool request, listed by
    `gates`: the agent reads the reason); waits for the engine's answer."""
    from phasegate.engine.model import commands as cmd
    from phasegate.tui.cli.gates import check_reason, decide

    check_reason("reject", reason)
    click.echo(_run_async(lambda: decide(_db_path(db), run_ref, cmd.Reject(gate, reason))))


@click.command()
@click.argument("run_ref", metavar="[RUN]", default="last")
@click.option(
    "--verify",
    is_flag=True,
    help="Check the run's hash chain: exit 1 naming every event changed, removed or inserted.",
)
@db_option
@json_option
def audit(run_ref: str, verify: bool, db: str | None, as_json: bool) -> None:
    """The audit trail of RUN: its start and end, every gate decision accepted or refused,
    every operator command; who (as the OS said), from where, when, why."""
    from phasegate.tui.cli.audit import audit as audit_run
    from phasegate.tui.cli.audit import verify as verify_run

    if verify:
        ok, text = _run_async(lambda: verify_run(_db_path(db), run_ref, as_json))
        click.echo(text)
        sys.exit(0 if ok else 1)
    click.echo(_run_async(lambda: audit_run(_db_path(db), run_ref, as_json)))


@click.command()
@click.argument("run_ref", metavar="[RUN]", default="last")
@click.option("--all", "every", is_flag=True, help="Cleared risks too.")
@db_option
@json_option
def risks(run_ref: str, every: bool, db: str | None, as_json: bool) -> None:
    """Early warnings of RUN: open risks, newest first, with a suggested action."""
    from phasegate.tui.cli.control import risks as list_risks

    click.echo(_run_async(lambda: list_risks(_db_path(db), run_ref, as_json, every)))


def _named(option: str, value: str) -> None:
    """An option naming a task or phase: empty would mean the whole run, which it does not say."""
    if not value.strip():
        raise click.BadParameter(
            "an empty name; leave the option out for the whole run", param_hint=option
        )


def _steer(db: str | None, run_ref: str, order: Command) -> None:
    from phasegate.tui.cli.control import command

    click.echo(_run_async(lambda: command(_db_path(db), run_ref, order)))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("task")
@click.option("--reason", required=True, help="Why (recorded; the task's dependents go on).")
@db_option
def skip(run_ref: str, task: str, reason: str, db: str | None) -> None:
    """Skip TASK of a live RUN (stopping it if it runs); its dependents go on."""
    from phasegate.engine.model import commands as cmd
    from phasegate.tui.cli.gates import check_reason

    check_reason("skip", reason)
    _steer(db, run_ref, cmd.Skip(task, reason))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("task")
@db_option
def retry(run_ref: str, task: str, db: str | None) -> None:
    """Run TASK of a live RUN again (it failed, timed out, was cancelled or blocked) as a new
    attempt, while its phase runs; the tasks it blocked wait for it again."""
    from phasegate.engine.model import commands as cmd

    _steer(db, run_ref, cmd.Retry(task))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--task", default=None, help="Cancel only this task (its dependents are blocked).")
@click.option("--reason", default="", help="Why (recorded).")
@db_option
def cancel(run_ref: str, task: str | None, reason: str, db: str | None) -> None:
    """Cancel a live RUN (every task's process group is stopped), or one of its tasks."""
    from phasegate.engine.model import commands as cmd

    if task is not None:
        _named("--task", task)
        _steer(db, run_ref, cmd.CancelTask(task, reason))
    else:
        _steer(db, run_ref, cmd.Cancel(reason))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--phase", default=None, help="Only this phase (the current one or a later one).")
@click.option("--reason", default="", help="Why (recorded).")
@db_option
def pause(run_ref: str, phase: str | None, reason: str, db: str | None) -> None:
    """Pause a live RUN: running tasks finish, no new task starts until `resume`. With --phase,
    only that phase's tasks wait (a later phase waits when the run reaches it)."""
    from phasegate.engine.model import commands as cmd

    if phase is not None:
        _named("--phase", phase)
    _steer(db, run_ref, cmd.Pause(phase or "", reason))


@click.command()
@click.argument("run_ref", metavar="[RUN]", default="last")
@click.option("--headless", is_flag=True, help="Take over in the foreground, without dashboard.")
@click.option(
    "--decide",
    "answers",
    multiple=True,
    metavar="TASK=ACTION",
    help="For an in-flight task with `on_resume: ask`: rerun, adopt or skip (repeatable).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Headless: print only what waits for a person (a manual gate, an agent's tool request, "
    "a risk rule's question, with the command that answers it) and the summary.",
)
@click.option(
    "--phase",
    default=None,
    help="Resume only this paused phase of a live run (not with --decide, --headless, -q).",
)
@db_option
@color_option
def resume(
    run_ref: str,
    headless: bool,
    phase: str | None,
    answers: tuple[str, ...],
    quiet: bool,
    db: str | None,
    color: str,
) -> None:
    """Go on with RUN: a paused run resumes; a run whose engine died (crash, kill -9, reboot)
    is taken over: finished tasks never run again, in-flight ones follow their `on_resume`."""
    from phasegate.engine.model import commands as cmd
    from phasegate.tui.cli.resume import decisions, inspect, resume_live

    if phase is not None:
        taking_over = [
            f for f, on in (("--decide", answers), ("--headless", headless), ("-q", quiet)) if on
        ]
        if taking_over:
            raise click.UsageError(
                f"--phase and {taking_over[0]} conflict: --phase resumes a paused phase of a "
                f"live run; {taking_over[0]} is for taking over a run whose engine died"
            )
        _named("--phase", phase)
        _steer(db, run_ref, cmd.Resume(phase))
        return
    path = _db_path(db)
    try:
        found = _run_async(lambda: inspect(path, run_ref))
    except PlanError as exc:
        _print_problems(exc.problems)
        _fail("the run's plan cannot be read; nothing was resumed", EXIT_USAGE)
        return
    if found.plan is None:
        click.echo(resume_live(path, found))
        return
    chosen = decisions(found, answers)
    run_id = found.row.id
    from phasegate.engine.client.engines import Job

    job = Job(found.plan, path, run_id, found.variables, chosen, quiet)
    if not headless and sys.stdin.isatty() and sys.stdout.isatty():
        from phasegate.engine.client.engines import start_engine
        from phasegate.tui.launch import watch

        sys.exit(watch(path, run_id, start_engine(job), color))
    _host(job)


@click.command(context_settings={"ignore_unknown_options": True})  # (N may be `-5`)
@click.argument("run_ref", metavar="RUN")
@click.argument("task")
@click.argument("value", metavar="N", type=click.IntRange(-MAX_PRIORITY, MAX_PRIORITY))
@db_option
def priority(run_ref: str, task: str, value: int, db: str | None) -> None:
    """Give TASK of a live RUN priority N (higher starts first; the plan's default is 0).

    N is a whole number from -1,000,000 to 1,000,000; a negative one lowers the task below
    the others: `phasegate priority RUN TASK -5`."""
    from phasegate.engine.model import commands as cmd

    _steer(db, run_ref, cmd.Priority(task, value))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("agent")
@click.argument("value", metavar="N", type=click.IntRange(1, MAX_SLOTS))
@db_option
def slots(run_ref: str, agent: str, value: int, db: str | None) -> None:
    """Give AGENT of a live RUN N slots (tasks at once), from 1 to 1024 as in a plan."""
    from phasegate.engine.model import commands as cmd

    _steer(db, run_ref, cmd.Slots(agent, value))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("text")
@db_option
def note(run_ref: str, text: str, db: str | None) -> None:
    """Add an operator's note to RUN (kept for the lessons learned), live or ended."""
    from phasegate.engine.model import commands as cmd
    from phasegate.tui.cli.control import note_after

    if not text.strip():
        raise click.BadParameter("a note needs text", param_hint="TEXT")
    done = _run_async(lambda: note_after(_db_path(db), run_ref, text))
    if done is None:
        _steer(db, run_ref, cmd.Note(text))
    else:
        click.echo(done)


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--rating", type=click.IntRange(1, 5), help="How well it met your needs, 1-5.")
@click.option("--comment", default="", help="Anything the team should know.")
@click.option(
    "--answer", "answers", multiple=True, metavar="ID=TEXT", help="Another question's answer."
)
@db_option
def feedback(
    run_ref: str, rating: int | None, comment: str, answers: tuple[str, ...], db: str | None
) -> None:
    """Give stakeholder feedback on RUN (live or ended): a rating and a comment, kept with
    its lessons. Those the plan's `feedback: {ask}` names may answer once asked; without
    that section the run's starter and operators may, at any time."""
    from phasegate.tui.cli.feedback import answer, parse_answers

    more = parse_answers(answers)
    for key, given in (("rating", rating is not None), ("comment", bool(comment.strip()))):
        if given and key in more:  # (one of the two would be dropped without a word)
            raise click.UsageError(f"--{key} and --answer {key}=... both give the {key}: give one")
    if rating is None and not comment.strip() and not more:
        raise click.UsageError(
            "no answer given: give --rating N (1-5), --comment TEXT or --answer ID=TEXT"
        )
    click.echo(_run_async(lambda: answer(_db_path(db), run_ref, rating, comment, more)))


COMMANDS = (
    gates,
    approve,
    reject,
    audit,
    risks,
    skip,
    retry,
    cancel,
    pause,
    resume,
    priority,
    slots,
    note,
    feedback,
)
