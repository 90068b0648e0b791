"""`phasegate report`, `diff`, `search` and `doctor`: what the store knows, after the runs."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from phasegate.engine.model.errors import PlanError
from phasegate.tui.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    MAX_LIMIT,
    _db_path,
    _parse_vars,
    _print_problems,
    _run_async,
    db_option,
    json_option,
)

if TYPE_CHECKING:
    from phasegate.engine.client.plans import Plan


@click.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option(
    "--kind",
    type=click.Choice(["coordination", "qa", "performance", "lessons", "all"]),
    default="all",
    show_default=True,
    help="Which report.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json", "junit"]),
    default="md",
    show_default=True,
    help="junit: one test case per task (ignores --kind).",
)
@click.option("-o", "--out", metavar="DIR", default=None, help="Write a file into DIR.")
@click.option(
    "--plan",
    "plan_path",
    metavar="PLAN",
    default=None,
    help="The coordination plan of PLAN, before any run (--kind coordination or all).",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --plan: set or override a plan variable (repeatable).",
)
@db_option
def report(
    run_ref: str | None,
    kind: str,
    fmt: str,
    out: str | None,
    plan_path: str | None,
    variables: tuple[str, ...],
    db: str | None,
) -> None:
    """Reports of RUN (default: the newest run): coordination plan, QA, performance, lessons
    learned, with the success metrics; printed, or written into DIR. When a run ends, its QA,
    performance and lessons reports are written into its run directory."""
    from phasegate.tui.cli.reports import report_plan, report_run

    if plan_path is not None:
        if run_ref is not None:
            raise click.UsageError(
                f"RUN ({run_ref}) and --plan conflict: a report is of a run, or (with --plan) "
                "of a plan before it runs; give one of them"
            )
        if kind not in ("coordination", "all"):
            raise click.UsageError(
                f"--plan and --kind {kind} conflict: a plan before it runs has only its "
                "coordination plan; the QA, performance and lessons reports are of a run"
            )
        try:
            given = dict(_parse_vars(variables))
            click.echo(report_plan(_db_path(db, "any"), plan_path, given, fmt, out))
        except PlanError as exc:
            _print_problems(exc.problems)
            sys.exit(EXIT_USAGE)
        return
    if variables:
        raise click.UsageError(
            "--var sets a variable of the plan given with --plan; a run's reports are of the "
            "values it ran with"
        )
    ref = run_ref if run_ref is not None else "last"
    click.echo(_run_async(lambda: report_run(_db_path(db), ref, kind, fmt, out)))


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="[RUN_B]", required=False)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="List every task, those that did not change too.",
)
@json_option
@db_option
def diff(run_a: str, run_b: str | None, everything: bool, as_json: bool, db: str | None) -> None:
    """Compare two runs (RUN_B: default the run of RUN_A's plan before it, for its plan's first
    run the one after it; the earlier run first): the tasks whose status, attempts or duration
    changed (by 20% or 1s, whichever is more; durations less the time an engine was down, as
    the performance report) and a count of the others, new and fixed failures, critical path
    and metrics (--json: every task, and the phases' timeline)."""
    from phasegate.tui.cli.reports import diff_runs

    click.echo(_run_async(lambda: diff_runs(_db_path(db), run_a, run_b, as_json, everything)))


@click.command()
@click.argument("text")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=20,
    show_default=True,
    help=f"Show at most N findings (1 to {MAX_LIMIT:,}).",
)
@json_option
@db_option
def search(text: str, limit: int, as_json: bool, db: str | None) -> None:
    """Search what earlier runs taught: lessons, operators' notes, risks and failures."""
    from phasegate.tui.cli.reports import search_history

    if not text.strip():  # (before the database is looked for: the first mistake is named)
        from phasegate.engine.model.errors import UsageError

        raise UsageError("give the words to search for (e.g. phasegate search 'flaky tests')")
    click.echo(_run_async(lambda: search_history(_db_path(db), text, limit, as_json)))


@click.command()
@click.argument("plan_path", metavar="[PLAN]", required=False, type=click.Path())
@db_option
@json_option
def doctor(plan_path: str | None, db: str | None, as_json: bool) -> None:
    """Check the data directory, the database, unfinished runs and task processes that outlive
    their run; with PLAN, also that every host its agents name answers over SSH; exit 1 on a
    failure."""
    from phasegate.engine.client.reports import diagnose

    path = _db_path(db, "any")  # (its checks say what is wrong with the database)
    found = diagnose(path)
    hosts: list[dict[str, object]] = []
    if plan_path is not None:
        from phasegate.engine.client.plans import load_plan

        # (its hosts are what is checked: a secret this machine does not hold is a warning, as
        # for `validate`, and the other checks are still made)
        loaded = load_plan(plan_path, to_run=False)
        _print_problems(loaded.warnings)
        hosts = host_checks(loaded)
    if as_json:
        out: dict[str, object] = {"db": path, "checks": [f.as_dict() for f in found]}
        click.echo(json.dumps(out | ({"hosts": hosts} if hosts else {}), indent=2))
    else:
        from phasegate.tui.text import safe

        click.echo(f"database {safe(path)}")
        for f in found:
            mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[f.level]
            click.echo(f"  {mark}  {safe(f.check):<16} {safe(f.detail)}")
    if any(f.level == "fail" for f in found) or any(h["error"] for h in hosts):
        sys.exit(EXIT_FAILED)


def host_checks(plan: Plan) -> list[dict[str, object]]:
    """Every host the plan's agents name, reached over SSH (`true` run there): a line each on
    stderr, with its round trip or why it cannot be reached."""
    from phasegate.engine.client.plans import check_hosts

    if not any(a.host for a in plan.agents.values()):
        return []
    from phasegate.tui.text import safe

    found: list[dict[str, object]] = _run_async(lambda: check_hosts(plan.agents))
    for h in found:
        who = ", ".join(str(a) for a in h["agents"])  # type: ignore[attr-defined]
        if h["error"]:
            click.echo(
                f"host {safe(str(h['host']))} ({who}): UNREACHABLE: {safe(str(h['error']))}",
                err=True,
            )
        else:
            rtt = float(h["rtt"])  # type: ignore[arg-type]
            click.echo(
                f"host {safe(str(h['host']))} ({who}): reachable, {rtt * 1000:.0f} ms", err=True
            )
    return found


COMMANDS = (report, diff, search, doctor)
