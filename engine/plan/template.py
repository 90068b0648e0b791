"""`{name}` substitution in plan strings: known names are replaced, `{{`/`}}` are literal braces,
unknown `{identifier}` is an error, other braces (`awk '{print $1}'`) are left alone.

`${NAME}` is the shell's, not ours: it is left alone as well, so that commands may use it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")

BUILTINS = ("current_date", "run_id", "workdir", "task")

# names phasegate sets where it uses them, each in one kind of command: a value given for one
# would be ignored there (the name -> where it stands and what it is)
CONTEXTUAL = {
    "script": "in an agent's `command`, where it is the task's command",
    "query": "in a research provider's `run`, where it is the query",
}


class Raw(str):
    """A value put into shell commands as written (a var the plan lists in `raw_vars`)."""

    __slots__ = ()


def names_in(text: str) -> list[str]:
    """Every `{identifier}` named in the text (escaped braces and `${NAME}` excluded)."""
    if "{" not in text:
        return []
    return [m.group(1) for m in _TOKEN.finditer(text) if m.group(1)]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace known `{name}`s, turn `{{`/`}}` into braces; unknown names are left as written."""
    if "{" not in text and "}" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            return m.group(0)[0]
        return str(values[name]) if name in values else m.group(0)

    return _TOKEN.sub(one, text)


def shell_substitute(text: str, values: Mapping[str, str]) -> str:
    """Substitute into a command that a shell will read, each value quoted for where it stands:
    outside quotes as one word, inside `'...'` or `"..."` as text of that string. So no value
    can add shell syntax, however the plan quotes its placeholder."""
    if "{" not in text and "}" not in text:
        return text
    out: list[str] = []
    state = ""  # "" outside quotes, "'" or '"' inside them
    i, n = 0, len(text)
    while i < n:
        m = _TOKEN.match(text, i) if text[i] in "{}" else None
        if m is not None:
            name = m.group(1)
            if name is None:
                out.append(m.group(0)[0])
            elif name in values:
                value = values[name]
                out.append(value if isinstance(value, Raw) else _quoted(str(value), state))
            else:
                out.append(m.group(0))
            i = m.end()
            continue
        c = text[i]
        if c == "\\" and state != "'" and i + 1 < n:
            out.append(text[i : i + 2])
            i += 2
            continue
        if state == "" and c in "'\"":
            state = c
        elif c == state:
            state = ""
        out.append(c)
        i += 1
    return "".join(out)


def _quoted(value: str, state: str) -> str:
    if state == "'":
        return value.replace("'", "'\"'\"'")  # close, a quoted quote, open again
    if state == '"':
        return re.sub(r'([\\"$`])', r"\\\1", value)
    return shlex.quote(value)


def bare(text: str, values: Mapping[str, str]) -> str:
    """The text with each known `{name}` as a plain word part: the plan's own syntax, which
    decides whether a command needs a shell (a value never does, unless it is Raw)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            return m.group(0)
        value = values[m.group(1)]
        return value if isinstance(value, Raw) else "_"  # (a raw value's syntax counts)

    return _TOKEN.sub(one, text)
