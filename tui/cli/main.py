"""`phasegate ...`: the command line (click). Imports textual only for the commands that show it."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn

import click

from phasegate.engine import __version__
from phasegate.engine.model.errors import PhasegateError, PlanError, Problem
from phasegate.tui.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MAX_LIMIT,
    _db_path,
    _fail,
    _host,
    _open,
    _parse_vars,
    _print_problems,
    _run_async,
    color_option,
    db_option,
    json_option,
    need_terminal,
    var_option,
)
from phasegate.tui.cli.report_commands import COMMANDS as REPORT_COMMANDS
from phasegate.tui.cli.report_commands import host_checks
from phasegate.tui.cli.steer_commands import COMMANDS as STEER_COMMANDS

if TYPE_CHECKING:
    pass


# the command's exit status once it is decided and only its output is left to write
_decided: list[int] = []


def _exits(code: int) -> None:
    """The command ends with `code` whatever it prints next (`validate`: the verdict is known
    before its problems are printed): a reader that goes away does not change it."""
    _decided[:] = [code]


def _reader_gone(exc: BrokenPipeError) -> NoReturn:
    """Whoever read our output is gone (`| head -1`, a closed pipe). The command ends with the
    status it has: the one it had decided (an invalid plan is 2, read to the end or not; a
    usage error), or that of the error it was reporting (a PhasegateError, a plan's problems:
    the exception being handled when the write failed); else 0, as the reader took
    what it wanted (not 141, a death by SIGPIPE, nor click's 1, which say the command failed:
    `set -o pipefail; phasegate runs | head -1` passes). Later writes go nowhere."""
    code = _decided[0] if _decided else 0
    seen: BaseException | None = exc.__context__
    while not _decided and seen is not None:
        if isinstance(seen, PhasegateError | click.ClickException):
            code = seen.exit_code
            break
        seen = seen.__context__
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(devnull, stream.fileno())
    sys.exit(code)


class _Commands(click.Group):
    """The command group; a reader that goes away (`phasegate logs | head -1`) does not change
    the command's exit status (see `_reader_gone`). Click's own handling of EPIPE exits 1,
    which says a run failed."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # (`phasegate --help | head -1`: the help is printed while parsing)
            return super().make_context(*args, **kwargs)
        except BrokenPipeError as exc:
            _reader_gone(exc)
        except KeyboardInterrupt:
            _interrupted()
        except click.ClickException as exc:  # (click prints it after its handler: decided here)
            _exits(exc.exit_code)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            _reader_gone(exc)
        except KeyboardInterrupt:
            _interrupted()
        except click.ClickException as exc:  # (a command's usage error, as above)
            _exits(exc.exit_code)
            _named_by_env(exc)
            raise


def _interrupted() -> NoReturn:
    """Ctrl-C in a command that does not catch it: exit 130, as a shell says an interrupted
    command ended (click's own handling said `Aborted!` and exit 1, which says a run failed)."""
    with contextlib.suppress(OSError, ValueError):
        print("\nphasegate: interrupted", file=sys.stderr, flush=True)
    sys.exit(130)


def _named_by_env(exc: click.ClickException) -> None:
    """A bad value that came from the environment names the variable, not the option the
    user never typed (`PHASEGATE_DB=/tmp phasegate runs`: 'PHASEGATE_DB', not '--db')."""
    from click.core import ParameterSource

    if not isinstance(exc, click.BadParameter) or exc.param_hint is not None:
        return
    param, ctx = exc.param, exc.ctx
    if param is None or ctx is None or param.name is None or not param.envvar:
        return
    if ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
        envvar = param.envvar if isinstance(param.envvar, str) else param.envvar[0]
        exc.param_hint = envvar


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="phasegate")
def cli() -> None:
    """Run multi-agent work as a plan, and keep a person in control of it.

    \b
    Quick start:
      phasegate validate plans/demo.yaml
      phasegate run plans/demo.yaml --headless
      phasegate runs
      phasegate show last

    Exit codes: 0 success; 1 the run failed, was rejected at a gate or timed out, or a command
    was refused by policy; 2 invalid plan, bad usage or unknown run (or unknown task, gate,
    agent or phase); 130 interrupted by Ctrl-C; 143 stopped by SIGTERM.
    """


@cli.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path())
@json_option
@var_option
def validate(plans: tuple[str, ...], as_json: bool, variables: tuple[str, ...]) -> None:
    """Check plan files; report every problem as FILE:LINE: key: what is wrong; what to do."""
    from phasegate.engine.client.plans import validate_file

    names = list(_parse_vars(variables))
    results = [(path, validate_file(path, names)) for path in plans]

    def valid(problems: list[Problem]) -> bool:  # (warnings do not fail a plan)
        return all(p.warning for p in problems)

    ok = all(valid(problems) for _, problems in results)
    _exits(0 if ok else EXIT_USAGE)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "valid": ok,
                    "files": [
                        {"file": f, "valid": valid(ps), "problems": [p.as_dict() for p in ps]}
                        for f, ps in results
                    ],
                },
                indent=2,
            )
        )
    else:
        for path, problems in results:
            _print_problems(problems)
            n = sum(not p.warning for p in problems)
            if n:
                click.echo(f"{path}: {n} problem{'s' if n != 1 else ''}", err=True)
            else:
                w = len(problems)
                click.echo(f"{path}: ok" + (f" ({w} warning{'s' if w != 1 else ''})" if w else ""))
    sys.exit(0 if ok else EXIT_USAGE)


@cli.command()
@click.argument("plan", type=click.Path())
@click.option("--headless", is_flag=True, help="No dashboard: print one log line per transition.")
@click.option(
    "--detach", is_flag=True, help="Start the run in the background; print its id and return."
)
@db_option
@var_option
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Headless: print only what waits for a person (a manual gate, an agent's tool request, "
    "a risk rule's question, with the command that answers it) and the summary.",
)
@color_option
@click.option(
    "--share",
    metavar="GROUP",
    help="Let the members of OS group GROUP attach, and approve or operate as the plan's "
    "roles allow (the plan's `share:` key says the same).",
)
@click.option("--run-id", hidden=True, help="Use this run id (the dashboard's engine child).")
def run(
    plan: str,
    headless: bool,
    detach: bool,
    db: str | None,
    variables: tuple[str, ...],
    quiet: bool,
    color: str,
    share: str | None,
    run_id: str | None,
) -> None:
    """Validate PLAN and run it, with the live dashboard (or --headless log lines).

    The dashboard runs the engine as its own process, in its own session: `d` detaches (the run
    goes on; `phasegate attach` opens it again), quitting asks whether to stop the run or leave
    it running, and a dropped terminal or SSH connection never stops it. Without a terminal,
    the run is headless.
    """
    if detach and (headless or quiet):
        flag = "--headless" if headless else "-q/--quiet"
        raise click.UsageError(
            f"--detach and {flag} conflict: --detach runs the engine in the background (its "
            "log goes to the run directory); --headless runs it in the foreground"
        )
    # start-up is part of every run: no garbage collection while modules and the plan load
    # (they are long-lived), then freeze them out of later collections
    gc.disable()
    from phasegate.engine.client.plans import load_plan

    values = _parse_vars(variables)
    try:
        loaded = load_plan(plan, list(values))
    except PlanError as exc:
        _print_problems(exc.problems)
        n = sum(not p.warning for p in exc.problems)  # (its warnings are printed, not counted)
        _fail(
            f"{plan} is not a valid plan ({n} problem{'s' if n != 1 else ''}); nothing was run", 2
        )
        return
    finally:
        gc.freeze()
        gc.enable()
    _print_problems(loaded.warnings)
    if not loaded.absolute_outputs and any(t.outputs for _, t in loaded.tasks()):
        from phasegate.engine.client.plans import refuse_outside_outputs

        # (a variable that moves an output out of the workdir: exit 2 before anything is made,
        # as the engine would refuse it)
        given = {k: str(v) for k, v in loaded.vars.items()} | values
        refuse_outside_outputs(loaded, given | {"workdir": loaded.base_dir}, loaded.base_dir)
    share = share or loaded.share
    gid = None
    if share is not None:
        from phasegate.engine.client import share_group

        gid = share_group(share)
    if any(g.approvers for g in loaded.gates):
        from phasegate.engine.client.plans import refuse_unreachable
        from phasegate.engine.model.identity import current_identity

        # (a gate no one here could pass: exit 2 before anything is made or started, as the
        # engine would refuse it; detached or with the dashboard, it said so from its log)
        refuse_unreachable(loaded.gates, current_identity().user, gid)
    # (a database that cannot be the run's: exit 2 before anything starts or is made)
    path = _db_path(db, "create")
    if gid is not None:
        from phasegate.engine.client import check_reachable

        # (a group this user is not in, or one that could never reach the database: exit 2
        # before anything starts)
        check_reachable(path, gid)
    # the plan is parsed once: a launched engine gets it from here
    if detach:
        from phasegate.tui.launch import run_detached

        sys.exit(run_detached(loaded, path, values, share))
    if not headless and sys.stdin.isatty() and sys.stdout.isatty():
        from phasegate.tui.launch import run_with_dashboard

        sys.exit(run_with_dashboard(loaded, path, values, color, share))
    from phasegate.engine.client import new_run_id
    from phasegate.engine.client.engines import Job

    _host(Job(loaded, path, run_id or new_run_id(), values, quiet=quiet, share=share))


@cli.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@db_option
@color_option
def attach(run_ref: str | None, db: str | None, color: str) -> None:
    """Open the dashboard on a run (default: the newest active one, else the newest).
    It needs a terminal: without one, `phasegate show` and `phasegate logs -f` show a run."""
    need_terminal("attach", "`phasegate show [RUN]` or `phasegate logs [RUN] -f`")
    from phasegate.tui.launch import attach_dashboard

    sys.exit(attach_dashboard(_db_path(db), run_ref, color))


@cli.command()
@db_option
@color_option
def ui(db: str | None, color: str) -> None:
    """Browse runs in the dashboard; enter opens one. It needs a terminal: without one,
    `phasegate runs` lists the runs."""
    need_terminal("ui", "`phasegate runs` and `phasegate show RUN`")
    from phasegate.tui.launch import browse

    sys.exit(browse(_db_path(db), color))


def _absent(path: str) -> bool:
    """No file there (one this user may not look at is there: opening it says why)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


@cli.command()
@db_option
@json_option
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=None,
    help=f"Show at most N runs (1 to {MAX_LIMIT:,}).",
)
def runs(db: str | None, as_json: bool, limit: int | None) -> None:
    """List runs, newest first."""
    from phasegate.engine.client import known
    from phasegate.tui.cli.views import runs_table

    async def go() -> list[Any]:
        store = await _open(db)
        try:
            return [await known(store, r) for r in await store.list_runs(limit)]
        finally:
            await store.close()

    # (no database yet is no run yet: a list, empty, and nothing created; a typo shows here)
    path = _db_path(db, "any")
    missing = _absent(path)
    rows = [] if missing else _run_async(go)
    if as_json:
        click.echo(json.dumps({"runs": [_run_json(r) for r in rows]}, indent=2))
        return
    if not rows:
        where = f" (no database at {path})" if missing else ""
        click.echo(f"no runs yet{where}; start one with `phasegate run PLAN --headless`")
        return
    click.echo(runs_table(rows))


def _run_json(r: Any) -> dict[str, Any]:
    from phasegate.engine.client import shown_status

    return {
        "id": r.id,
        "plan": r.plan_name,
        "plan_path": r.plan_path,
        "status": shown_status(r),
        "created_at": r.created_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration": r.duration,
        "counts": r.counts,
        "user": r.user,
        "host": r.host,
    }


@cli.command()
@click.argument("run_ref", metavar="[RUN]", default="last")
@db_option
@json_option
def show(run_ref: str, db: str | None, as_json: bool) -> None:
    """Show a run and its tasks. RUN is an id, a unique prefix or `last` (default)."""
    from phasegate.tui.cli.views import show_run

    click.echo(_run_async(lambda: show_run(_db_path(db), run_ref, as_json)))


@cli.command()
@click.argument("run_ref", metavar="[RUN]", default="last")
@click.argument("task", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option(
    "--attempt",
    type=click.IntRange(min=1),
    default=None,
    help="Only this attempt, from 1 (default: all).",
)
@click.option(
    "--raw", is_flag=True, help="Print the output as it is (escapes, control characters)."
)
@db_option
def logs(
    run_ref: str, task: str | None, follow: bool, attempt: int | None, raw: bool, db: str | None
) -> None:
    """Print a run's output, or one TASK's. RUN is an id, a unique prefix or `last`."""
    from phasegate.tui.cli.views import print_logs

    try:
        _run_async(lambda: print_logs(_db_path(db), run_ref, task, follow, attempt, raw))
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("plan_path", metavar="PLAN", type=click.Path())
@click.option(
    "--restart",
    multiple=True,
    metavar="TASK",
    help="A running TASK whose command changes: stop its attempt and run the new one.",
)
@json_option
@db_option
def amend(
    run_ref: str, plan_path: str, restart: tuple[str, ...], as_json: bool, db: str | None
) -> None:
    """Amend a live RUN's plan with PLAN: the difference task by task and its impact on the
    forecast are shown and put to a change gate (change-N), applied once approved with
    `phasegate approve RUN change-N` (approvers: the plan's roles.changes, default the run's
    starter). What has run, a running task (but with --restart TASK) or a gate the run has
    reached (open: decide it first) cannot change."""
    from phasegate.tui.cli.amend import amend as send

    async def sending() -> str | PlanError:
        try:  # (a PlanError is shown here, problem by problem: not as one error line)
            return await send(_db_path(db), run_ref, plan_path, restart, as_json)
        except PlanError as exc:
            return exc

    shown = _run_async(sending)
    if isinstance(shown, PlanError):
        exc = shown
        n = sum(not p.warning for p in exc.problems)
        if as_json:  # (as `validate --json` says it; nothing was sent)
            problems = [p.as_dict() for p in exc.problems]
            click.echo(json.dumps({"sent": False, "valid": False, "problems": problems}, indent=2))
            sys.exit(EXIT_USAGE)
        _print_problems(exc.problems)
        _fail(
            f"{plan_path} is not a valid plan ({n} problem{'s' if n != 1 else ''}); "
            "nothing was sent",
            EXIT_USAGE,
        )
        return
    click.echo(shown)


@cli.command("plan")
@click.argument("plan_path", metavar="PLAN", type=click.Path())
@json_option
@var_option
@db_option
def plan_cmd(plan_path: str, as_json: bool, variables: tuple[str, ...], db: str | None) -> None:
    """Dry run: the schedule PLAN would follow (timeline, critical path, contention, gate
    waits); estimates come from earlier runs of the plan when the database has them."""
    from phasegate.engine.client.plans import load_plan
    from phasegate.tui.cli.dryrun import render

    try:  # (a secret this machine does not hold: a warning, the run would refuse)
        loaded = load_plan(plan_path, list(_parse_vars(variables)), to_run=False)
    except PlanError as exc:
        _print_problems(exc.problems)
        sys.exit(EXIT_USAGE)
    _print_problems(loaded.warnings)
    text = render(loaded, as_json, learned=_run_async(lambda: _learned(db, loaded.name)))
    hosts = host_checks(loaded)
    if as_json and hosts:
        text = json.dumps(json.loads(text) | {"hosts": hosts}, indent=2)
    failed = any(h["error"] for h in hosts)
    _exits(EXIT_FAILED if failed else 0)
    click.echo(text)
    if failed:
        sys.exit(EXIT_FAILED)


async def _learned(db: str | None, plan: str) -> dict[str, Any]:
    """What earlier runs of the plan took, if there is a database (a dry run creates none)."""
    path = _db_path(db, "any")
    if not os.path.exists(path):
        return {}
    from phasegate.engine.client.plans import learned

    store = await _open(db)
    try:
        return await learned(store, plan)
    finally:
        await store.close()


@cli.command()
def schema() -> None:
    """Print the plan's JSON Schema (for editor completion)."""
    from phasegate.engine.client.plans import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


for _command in (*STEER_COMMANDS, *REPORT_COMMANDS):
    cli.add_command(_command)


def main() -> None:
    _decided.clear()  # (a command's own: main() called again in one process starts anew)
    try:
        try:
            cli(prog_name="phasegate")
        except PhasegateError as exc:
            _fail(str(exc), exc.exit_code)
    except BrokenPipeError as exc:  # (outside a command, click's usage error: see _Commands)
        _reader_gone(exc)


def entry() -> NoReturn:
    """The `phasegate` command: `main`, then the process ends as soon as its work is done.

    Tearing down an interpreter that has loaded 350 modules (each module's objects freed one
    by one) took about 20 ms of every command, a sixth of a one-task run. What the
    interpreter's exit does that matters is done here first: the atexit handlers (logging's
    flush among them) and the flush of stdout and stderr (a failed flush is exit 120, as the
    interpreter has it); the commands close their own files and databases."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    # a thread still running, or a profiler or tracer (cProfile, coverage: they write their
    # figures after the command returns): the interpreter's own exit, which waits for them
    if threading.active_count() > 1 or sys.getprofile() or sys.gettrace():
        sys.exit(code)  # type: ignore[arg-type]
    if code is None:
        code = 0
    elif not isinstance(code, int):  # (as the interpreter does with `sys.exit("text")`)
        if sys.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # (private, but the interpreter's own: multiprocessing's too)
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # (started with that descriptor closed: `2>&-`)
            continue
        try:
            stream.flush()
        except ValueError:  # (closed by the command)
            pass
        except OSError:
            code = code or 120
    os._exit(code & 0xFF)


if __name__ == "__main__":  # pragma: no cover - `python -m phasegate.tui.cli.main`
    entry()
