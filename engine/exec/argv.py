"""What a command written in a plan becomes: the argv to exec (directly when the plan's text is a
plain command, as make does, or through `sh -c` with every substituted value quoted where it
stands), and the program found on PATH."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

from phasegate.engine.plan.template import Raw, bare, names_in, shell_substitute, substitute

SHELL_CHARS = frozenset("|&;<>()$`\\\"'*?[]#~=%{}!\n\t^")
SHELL_WORDS = frozenset(
    [
        "cd",
        "export",
        "exit",
        "set",
        "unset",
        "source",
        ".",
        "alias",
        "eval",
        "exec",
        "ulimit",
        "umask",
        "wait",
        "read",
        "trap",
        "shift",
        "return",
        "break",
        "continue",
        "if",
        "for",
        "while",
        "case",
        "until",
        "function",
        "local",
        "readonly",
        "times",
        "type",
        "hash",
        "getopts",
        "command",
        "builtin",
        "declare",
        "let",
    ]
)


def argv_for(command: str) -> list[str]:
    """Direct exec for a plain command (as make does), `sh -c` when it needs a shell."""
    return ["/bin/sh", "-c", command] if needs_shell(command) else command.split()


def needs_shell(command: str) -> bool:
    words = command.split()
    return not words or any(c in SHELL_CHARS for c in command) or words[0] in SHELL_WORDS


def command_argv(template: str, values: Mapping[str, str]) -> tuple[list[str], str]:
    """The argv of a command written in a plan with `{name}` values, and the command as run.
    Whether it needs a shell is decided on the plan's text, never on a value: a plain command
    is executed directly (each value stays inside its word, never split or interpreted); one
    that needs a shell gets every value quoted where it stands."""
    if "{" not in template and "}" not in template:
        return argv_for(template), template
    raw = any(isinstance(values.get(n), Raw) for n in names_in(template))
    if not raw and not needs_shell(bare(template, values)):  # (a raw value: the shell splits it)
        argv = [substitute(w, values) for w in template.split()]
        return argv, shlex.join(argv)
    command = shell_substitute(template, values)
    return ["/bin/sh", "-c", command], command


_FOUND: dict[tuple[str, str], str | None] = {}


def _which(name: str, dirs: list[str]) -> str | None:
    """shutil.which for absolute directories (shutil itself imports bz2 and lzma: start-up)."""
    if os.sep in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for d in dirs:
        full = os.path.join(d, name)
        if os.path.isfile(full) and os.access(full, os.X_OK):
            return full
    return None


def resolve(name: str, path: str | None) -> str | None:
    """The program `name` on PATH, looked up once per run (a spawn that searches PATH itself
    makes a failed exec for each directory before the right one, inside the spawn: with a long
    PATH that was a third of its cost). None when PATH has a relative entry (it would depend on
    the workdir) or the program is not found (the spawn then says why)."""
    key = (name, path or "")
    if key not in _FOUND:
        dirs = (path if path is not None else os.defpath).split(os.pathsep)
        found = None
        if all(os.path.isabs(d) for d in dirs):
            found = _which(name, dirs)
        _FOUND[key] = found
    return _FOUND[key]
