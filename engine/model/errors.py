"""The PhasegateError tree: every message says what is wrong, what is allowed and what to do."""

from __future__ import annotations

from typing import NamedTuple


class PhasegateError(Exception):
    """Base of every error phasegate raises on purpose; the CLI turns these into exit codes."""

    exit_code = 1


class UsageError(PhasegateError):
    """Bad input from the user: a wrong argument, an unknown run."""

    exit_code = 2


class Problem(NamedTuple):
    """One problem found in a plan, placed at a file, a line and a dotted key path.

    A `warning` does not stop the plan (`validate` prints it and passes). A NamedTuple: every
    command imports this module, and `--help` should not pay for msgspec."""

    file: str
    line: int | None
    key: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        level = " warning:" if self.warning else ""
        return f"{where}:{key}{level} {self.message}"

    def as_dict(self) -> dict[str, object]:
        level = "warning" if self.warning else "error"
        return {
            "file": self.file,
            "line": self.line,
            "key": self.key,
            "message": self.message,
            "level": level,
        }


class PlanError(UsageError):
    """A plan that cannot be run; carries every problem found in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RunNotFound(UsageError):
    """A run reference (id, prefix or `last`) that names no run."""


class StoreError(PhasegateError):
    """The database cannot be opened, read or written."""


class DatabaseUnusable(StoreError):
    """The database a command was pointed at (--db, PHASEGATE_DB or the default) cannot be
    the one: missing for a command that only reads, another program's file, not a database,
    unreadable, or not this user's to write for a run. Bad usage (exit 2): nothing was done."""

    exit_code = 2


class StoreBusy(StoreError):
    """Another process holds the database's lock longer than the busy timeout: nothing was
    written, and the same write may be tried again."""


class EngineBusy(PhasegateError):
    """Another live engine already holds the run."""
