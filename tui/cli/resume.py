"""`phasegate resume RUN`: go on with a paused run, or take over a run whose engine died."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field

import click

from phasegate.engine.client import RunRow, SQLiteStore, db_flag, resolve_run, resumes
from phasegate.engine.client.plans import Plan, plan_from_text, read_text
from phasegate.engine.model.errors import PhasegateError, PlanError, UsageError
from phasegate.engine.model.snapshot import fold_run
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import TaskStatus
from phasegate.tui.text import safe

DECISIONS = ("rerun", "adopt", "skip")


@dataclass
class Resumable:
    """What `resume` found: the run, its fold, whether its engine lives, and its plan."""

    row: RunRow
    state: RunState
    alive: bool
    plan: Plan | None = None
    variables: dict[str, str] = field(default_factory=dict)


async def inspect(db_path: str, ref: str) -> Resumable:
    """The run `ref`; with its plan when it is to be taken over (its engine died), and
    TakeOverRefused (naming who can) when this user cannot take it over."""
    from phasegate.engine.client import check_take_over, engine_alive

    store = await SQLiteStore.open(db_path)
    try:
        row = await resolve_run(store, ref)
        found = Resumable(row, (await fold_run(store, row.id))[0], engine_alive(row))
        if found.state.finished_at is None and not found.alive:
            check_take_over(db_path, row)
            saved = await store.load_plan(row.id)
            if saved is not None and found.state.amendments:
                # (the newest applied amendment's text: its event is the truth, should its
                # row not have reached the plan_versions table before the engine died)
                newest = [e for _, e in await store.read_events(row.id) if e.type == "plan.amended"]
                if newest:
                    saved = (str(getattr(newest[-1], "text", saved[0])), saved[1])
            found.plan, found.variables = _plan(row, saved)
        return found
    finally:
        await store.close()


def _plan(row: RunRow, saved: tuple[str, dict[str, str]] | None) -> tuple[Plan, dict[str, str]]:
    """The plan the run was started with (kept in the database), else its file as it is now."""
    if saved is not None:
        text, variables = saved
    else:
        text, problems = read_text(row.plan_path)
        if problems:
            raise PlanError(problems)
        variables = {}
    base = os.path.dirname(row.plan_path) or "."
    return plan_from_text(text, row.plan_path, base, list(variables)), variables


def in_flight(found: Resumable) -> list[str]:
    return [t.id for t in found.state.tasks.values() if t.status is TaskStatus.RUNNING]


def decisions(found: Resumable, given: tuple[str, ...], prompt: bool = True) -> dict[str, str]:
    """The operator's answer for each in-flight task whose `on_resume` is `ask`: from
    `--decide TASK=ACTION`, else asked on the terminal; refused without a terminal (or
    without `prompt`)."""
    answers: dict[str, str] = {}
    for item in given:
        task, sep, action = item.partition("=")
        if not sep or action not in DECISIONS:
            raise UsageError(f"--decide {item!r}: give TASK=ACTION, ACTION one of rerun|adopt|skip")
        answers[task] = action
    assert found.plan is not None
    policies = {t.id: t.on_resume for _, t in found.plan.tasks()}
    unknown = sorted(set(answers) - set(policies))
    if unknown:  # (a typo: the task meant would then be rerun, or asked about)
        raise UsageError(
            f"--decide names no task of run {found.row.id}: {', '.join(map(safe, unknown))}"
        )
    # (a decision its task would not take: followed silently, the task would run again)
    fixed = [f"{safe(t)} has on_resume: {policies[t]}" for t in answers if policies[t] != "ask"]
    if fixed:
        raise UsageError(
            f"--decide is for tasks whose on_resume is ask; task {'; task '.join(fixed)} "
            "(the take-over follows that): drop the --decide"
        )
    ask = [t for t in in_flight(found) if policies.get(t) == "ask" and t not in answers]
    if ask and not (prompt and sys.stdin.isatty()):
        raise UsageError(
            f"task{'s' if len(ask) > 1 else ''} {', '.join(ask)} (on_resume: ask) "
            "need a decision; give --decide TASK=rerun|adopt|skip"
        )
    for task in ask:
        answers[task] = click.prompt(
            f"task {safe(task)} was running when the engine stopped: rerun, adopt or skip?",
            type=click.Choice(DECISIONS),
            default="rerun",
        )
    return answers


def resume_live(db_path: str, found: Resumable) -> str:
    """A run whose engine lives: a paused one is told to go on, and so is each phase paused
    alone (a risk rule's `pause` action pauses the phase: `resume RUN` said "nothing to
    resume"); a finished one has nothing."""
    row, state = found.row, found.state
    if state.finished_at is not None:
        said = f"run {row.id} has finished ({state.status.value}): nothing to resume"
        return said + asyncio.run(_finish_reports(db_path, row))
    # (the run, or each phase paused alone: by `pause --phase`, or a risk rule's `pause`)
    orders = resumes(state)
    if orders:
        from phasegate.tui.cli.control import command

        return "\n".join(asyncio.run(command(db_path, row.id, o)) for o in orders)
    return (
        f"run {row.id} is running (engine pid {row.engine_pid}): nothing to resume; "
        f"`phasegate attach {row.id}{db_flag(db_path)}` opens it"
    )


async def _finish_reports(db_path: str, row: RunRow) -> str:
    """A run whose engine died as it wrote its end-of-run reports (after the run's end was
    recorded) has none, and its lessons are not in the history: written now ("" when there is
    nothing to do; a warning when they cannot be)."""
    from phasegate.engine.client import run_dir
    from phasegate.engine.client.reports import learn

    directory = run_dir(db_path, row.id)
    if os.path.exists(os.path.join(directory, "report.md")):
        return ""
    store = await SQLiteStore.open(db_path)
    try:
        saved = await store.load_plan(row.id)
        plan = _plan(row, saved)[0] if saved is not None else None
        written = (await learn(store, row.id, directory, plan))[0]
    except (OSError, PlanError, PhasegateError) as exc:
        return f"; its reports were never written, and cannot be now: {exc}"
    finally:
        await store.close()
    return f"; its reports were never written (its engine stopped first): written now, {written}"
