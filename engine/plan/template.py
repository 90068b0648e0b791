"""`{name}` substitution in plan strings: known names are replaced, `{{`/`}}` are literal braces,
unknown `{identifier}` is an error, other braces (`awk '{print $1}'`) are left alone.

`${NAME}` is the shell's, not ours: it is left alone as well, so that commands may use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")

BUILTINS = ("current_date", "run_id", "workdir", "task")


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
