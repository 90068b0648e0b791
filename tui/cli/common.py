"""What every `phasegate` command shares: exit codes, common options, error handling."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from phasegate.engine.model.errors import PhasegateError, Problem

# (asyncio and the engine's client load when a command needs them: `phasegate --help` and the
# start of `phasegate run` pay only for what they use)

T = TypeVar("T")

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 130, 143

db_option = click.option(
    "--db",
    "db",
    envvar="PHASEGATE_DB",
    type=click.Path(dir_okay=False),
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


def _parse_vars(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--var")
        out[name] = value
    return out


def _db_path(db: str | None) -> str:
    from phasegate.engine.client import default_db_path

    return os.path.abspath(db) if db else default_db_path()


async def _open(db: str | None) -> Any:
    from phasegate.engine.client import SQLiteStore

    return await SQLiteStore.open(_db_path(db))


def _print_problems(problems: list[Problem]) -> None:
    for p in problems:
        click.echo(str(p), err=True)


color_option = click.option(
    "--color",
    type=click.Choice(["auto", "never", "256", "truecolor"]),
    default="auto",
    show_default=True,
    help="Colours of the dashboard (NO_COLOR=1 also turns them off).",
)
