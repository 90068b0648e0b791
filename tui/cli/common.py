"""What every `phasegate` command shares: exit codes, common options, error handling."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from phasegate.engine.model.errors import PhasegateError, Problem

if TYPE_CHECKING:
    from phasegate.engine.client.engines import Job

# (asyncio and the engine's client load when a command needs them: `phasegate --help` and the
# start of `phasegate run` pay only for what they use)

T = TypeVar("T")

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 130, 143

# Bounds of the numbers the command line takes, so that click names what is allowed instead of
# a value reaching SQLite (which stores at most 64-bit integers) or the engine.
MAX_LIMIT = 1_000_000  # `runs -n`, `search -n`
MAX_SLOTS = 1024  # an agent's slots: the plan's own bound (engine/plan/model.py, `slots: le=`)
# `priority RUN TASK N`: the plan's own bound, engine/model/commands.MAX_PRIORITY (written out:
# `--help` does not import the engine's model; tests/tui/test_cli_inputs.py checks they agree)
MAX_PRIORITY = 1_000_000


def _check_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty --db (or PHASEGATE_DB set but empty) is a mistake, not the default database:
    click reads an empty variable as unset, so it is looked at here."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            "an empty path; give a database file, or leave --db out for the default",
            ctx=ctx,
            param=param,
        )
    if value is None and "PHASEGATE_DB" in os.environ and not os.environ["PHASEGATE_DB"].strip():
        raise click.BadParameter(
            "PHASEGATE_DB is set but empty; give it a database file, or unset it for the default",
            ctx=ctx,
            param=param,
        )
    return value


db_option = click.option(
    "--db",
    "db",
    envvar="PHASEGATE_DB",
    type=click.Path(dir_okay=False, readable=False),
    callback=_check_db,
    help="Database file (default: phasegate.db in the user data dir; env PHASEGATE_DB).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
var_option = click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set or override a plan variable (repeatable).",
)


def _fail(message: str, code: int) -> None:
    from ..text import safe

    # (a message may quote a plan's text, a run's name or a task's output)
    click.echo(f"phasegate: {safe(message)}", err=True)
    sys.exit(code)


def _run_async(make: Callable[[], Awaitable[T]]) -> T:
    import asyncio

    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except PhasegateError as exc:
        _fail(str(exc), exc.exit_code)
        raise  # unreachable


def need_terminal(command: str, instead: str) -> None:
    """The dashboard needs a terminal on stdin and stdout; without one (piped, in CI, under
    cron) say what to use instead and exit 2, rather than draw into a pipe and wait for keys
    that never come (`run` goes headless there instead)."""
    missing = [name for name, f in (("stdin", sys.stdin), ("stdout", sys.stdout)) if not f.isatty()]
    if missing:
        _fail(
            f"{command} opens the dashboard, which needs a terminal ({' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not one); without one use {instead}",
            EXIT_USAGE,
        )


def _parse_vars(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--var")
        out[name] = value
    return out


def _db_path(db: str | None, need: str = "read") -> str:
    """The database's path; with `need`, checked before anything opens it (exit 2 when it
    cannot be the one, naming who chose it): "read" (a command that reads runs, or sends to
    one: it must exist, and nothing is created on a typo), "create" (a run: a missing one is
    made, an existing one must be this user's own phasegate database), "any" (unchecked: the
    command looks for itself whether there is one)."""
    from phasegate.engine.client import check_database, check_private, default_db_path

    if db is not None and not db.strip():  # (db_option's callback says so first)
        raise click.UsageError("--db: an empty path; give a database file")
    path = os.path.abspath(db) if db is not None else default_db_path()
    if need != "any":
        check_database(path, _db_source(db), create=need == "create")
        if need == "create":
            _creatable(path, _db_source(db))
            check_private(path)
    return path


def _creatable(path: str, source: str) -> None:
    """A run's database that is not there yet must be one that can be made (DatabaseUnusable,
    exit 2: bad usage, not a failed run): the nearest directory above it that exists takes a
    new entry. Tried with a directory made there and removed at once: nothing is left."""
    import stat
    import tempfile

    from phasegate.engine.model.errors import DatabaseUnusable

    if path == ":memory:" or os.path.lexists(path):
        return
    fix = "choose another place with --db or PHASEGATE_DB"
    above = os.path.dirname(path)
    try:
        while True:
            try:
                found = os.stat(above)
                break
            except (FileNotFoundError, NotADirectoryError):
                above = os.path.dirname(above)
        if not stat.S_ISDIR(found.st_mode):
            raise DatabaseUnusable(
                f"cannot create the database {path} ({source}): {above} is not a directory; {fix}"
            )
        os.rmdir(tempfile.mkdtemp(prefix=".phasegate-", dir=above))
    except OSError as exc:
        raise DatabaseUnusable(
            f"cannot create the database {path} ({source}): {exc.strerror}; {fix}"
        ) from None


def _db_source(db: str | None) -> str:
    """Who chose the database: `--db`, `PHASEGATE_DB` or the default."""
    if db is None:
        return "the default"
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.get_parameter_source("db") is ParameterSource.ENVIRONMENT:
        return "from PHASEGATE_DB"
    return "from --db"


async def _open(db: str | None) -> Any:
    from phasegate.engine.client import SQLiteStore

    return await SQLiteStore.open(_db_path(db))


# problems printed at most: the first ones in file order, then how many more (a plan this
# wrong is fixed from the top; `validate --json` lists every one)
MAX_SHOWN = 200


def _print_problems(problems: list[Problem]) -> None:
    for p in problems[:MAX_SHOWN]:
        click.echo(_printable(str(p)), err=True)
    rest = problems[MAX_SHOWN:]
    if rest:
        errors = sum(not p.warning for p in rest)
        said = [f"{errors} more problem{'s' if errors != 1 else ''}"] if errors else []
        if len(rest) > errors:
            warned = len(rest) - errors
            said.append(f"{warned} more warning{'s' if warned != 1 else ''}")
        click.echo(
            f"{rest[0].file}: ... and {' and '.join(said)}, not shown: fix the first ones "
            "(`phasegate validate --json` lists every one)",
            err=True,
        )


def _printable(text: str) -> str:
    """A line with a control or invisible character of a plan (an escape sequence, a
    zero-width space) shown as its escape: it must not act on the terminal. (The plan's
    messages escape the values they quote; a key path or a file name may still hold one.)"""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


color_option = click.option(
    "--color",
    type=click.Choice(["auto", "never", "256", "truecolor"]),
    default="auto",
    show_default=True,
    help="Colours of the dashboard (NO_COLOR=1 also turns them off).",
)


def _host(job: Job) -> NoReturn:
    """The engine in this process, in the foreground (engine/host.py); exits with its code."""
    from phasegate.engine.client.engines import exit_code, host

    state, sig = _run_async(lambda: host(job))
    sys.exit(exit_code(state, sig))
