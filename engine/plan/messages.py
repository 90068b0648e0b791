"""Words for plan problems: the model's complaints said as what is wrong and what is allowed."""

from __future__ import annotations

import math
import re
import reprlib
import typing
from typing import Any

from msgspec import Meta

from phasegate.engine.plan.shape import Issue, extra, fields, is_model, members, strip

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxdict = 4
_repr.maxlevel = 2


# what to write for a required key, by field name
_REQUIRED = {
    "name": "`name: ...`, a short name for the plan",
    "agents": "`agents:`, with at least one agent",
    "phases": "`phases:`, a list with at least one phase",
    "id": "`id: ...`, unique in the plan",
    "run": "`run: ...`, the command to run",
    "after": "`after: PHASE`, the phase the gate follows",
}

_NON_EMPTY = {
    "agents": "define at least one agent",
    "phases": "give at least one phase",
    "name": "give the plan a name",
    "run": "write the command to run",
}


def shown(value: object) -> str:
    """A value as a user wrote it, short: `the number 5`, `text 'abc'`, `a list`, `nothing`."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return f"text {_short(value)}"
    if isinstance(value, list):
        return f"a list {_short(value)}"
    if isinstance(value, dict):
        return f"a mapping {_short(value)}"
    return f"a {type(value).__name__} {_short(value)}"


def escaped(text: str) -> str:
    """Text from the plan as a message quotes it: a control or invisible character (an escape
    sequence, a zero-width space, a line break) written as its escape (`\\x1b`, `\\u200b`,
    `\\n`) and a backslash doubled, as `repr` writes them, so that it neither acts on a
    terminal nor hides; other characters (accents, CJK) as they are."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        "\\\\" if ch == "\\" else ch if ch.isprintable() else repr(ch)[1:-1] for ch in text
    )


def cut(name: object, limit: int = 60) -> str:
    """A value from the plan as a message quotes it: escaped (`escaped`), short enough."""
    text = name if isinstance(name, str) else str(name)
    out = escaped(text)
    if len(out) <= limit:
        return out
    parts, size = [], 0
    for ch in text:  # (by character: an escape is never cut in half)
        piece = escaped(ch)
        if size + len(piece) > limit - 3:
            break
        parts.append(piece)
        size += len(piece)
    return "".join(parts) + "..."


CYCLE_NAMED = 20  # a dependency cycle of at most this many tasks is named in full
CYCLE_SHOWN = 10  # (a longer one by its first tasks and how many more: one short line)


def cycle_of(tasks: list[str]) -> str:
    """`a -> b -> c -> a`; a long cycle by its first tasks: `a -> b -> ... and 4,990 more
    -> a`."""
    names = [cut(t) for t in tasks]
    if len(names) <= CYCLE_NAMED:
        return " -> ".join([*names, names[0]])
    more = len(names) - CYCLE_SHOWN
    return " -> ".join([*names[:CYCLE_SHOWN], f"... and {more:,} more", names[0]])


def _short(value: object, limit: int = 60) -> str:
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest(name: str, choices: list[str]) -> str | None:
    """The choice `name` was likely meant to be: the same but for case (`T1` for `t1`), else the
    closest spelling (`claud` for `claude`, `need` for `needs`); None when none is close."""
    import difflib  # (only for a plan with a mistake: not at start-up)

    folded = [c for c in choices if c.casefold() == name.casefold()]
    if folded:
        return folded[0]
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_key(key: str, allowed: list[str]) -> str:
    hint = closest(key, allowed)
    dym = f"did you mean '{hint}'? " if hint else ""
    return f"unknown key '{key}'; {dym}allowed: {', '.join(allowed)}"


def _quote_hint(value: object) -> str:
    if isinstance(value, dict) and value and all(v is None for v in value.values()):
        # `run: {name}` is YAML for the mapping {name: null}
        return '; a value that starts with { is a mapping in YAML: quote it, e.g. "{name}"'
    if isinstance(value, bool):
        return "; quote it if you mean the word (yes, no, on and off are true/false in YAML)"
    if isinstance(value, int | float):
        return f'; quote it: "{value}"'
    return ""


def issue_message(issue: Issue, value: object) -> str:
    """One problem of the plan's data against the model as `what is wrong; what is allowed or
    what to do` (`value`: what the file says there)."""
    kind, said, path = issue.kind, issue.said, issue.path
    field = str(path[-1]) if path else ""
    base, metas = strip(issue.hint, optional=True)
    bounds = {k: getattr(x, k) for x in metas for k in ("ge", "gt", "le", "lt", "max_length")}
    bounds = {k: v for k, v in bounds.items() if v is not None}
    allowed = extra(metas, "allowed")
    literal = _literal(base)
    if kind == "extra":
        known = list(fields(base)) if is_model(base) else []
        return unknown_key(_short(field).strip("'\""), known)
    if kind == "missing":
        what = _REQUIRED.get(field, f"`{field}:`")
        return f"is required; add {what}"
    if issue.key:
        if is_model(base):
            return key_of_model(value)
        key_type, key_metas = (
            strip(typing.get_args(base)[0]) if typing.get_args(base) else (None, [])
        )
        if kind == "pattern" and extra(key_metas, "pattern"):
            return f"{_short(value)} {extra(key_metas, 'pattern')}"
        return _key_message(kind, value, key_type, key_metas)
    if allowed and kind in ("type", "literal"):
        options = [str(w) for x in members(base) for w in typing.get_args(strip(x)[0])]
        meant = closest(value, options) if isinstance(value, str) and options else None
        hint = f" (did you mean '{cut(meant)}'?)" if meant else ""
        return f"got {shown(value)}{hint}; allowed: {allowed}"
    if literal is not None and kind in ("type", "literal"):
        hint = " (yes, no, on and off are true/false in YAML)" if isinstance(value, bool) else ""
        meant = (
            closest(value, [str(a) for a in typing.get_args(base)])
            if isinstance(value, str)
            else None
        )
        hint = hint or (f" (did you mean '{meant}'?)" if meant else "")
        return f"got {shown(value)}{hint}; allowed: {literal}"
    if kind == "value" and said == "Number out of range":  # (1e400, or past 64 bits)
        low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
        limits = f"; allowed: {low} to {high}" if low is not None and high is not None else ""
        return f"is out of range, got {shown(value)}{limits}"
    if kind == "value":
        return said
    if kind == "bound":  # (as msgspec says it: an int's `gt=0` is `>= 1`)
        op, _, limit = said.split("`")[2].strip().partition(" ")
        limit = limit.removesuffix(".0")  # (`more than 0`, for a float's bound too)
        words = {">": "more than {}", ">=": "{} or more", "<": "less than {}", "<=": "{} or less"}
        hint = f"; {extra(metas, 'bound')}" if extra(metas, "bound") else ""
        return f"must be {words.get(op, op + ' {}').format(limit)}, got {shown(value)}{hint}"
    if kind == "pattern":
        return extra(metas, "pattern") or _not_an_id(value, "id")
    if kind == "length":
        if "<= " in said and isinstance(value, str):
            return f"is {len(value)} characters long; at most {bounds.get('max_length')}"
        return f"must not be empty; {_NON_EMPTY.get(field, 'give a value or remove the key')}"
    expected = said.split("`")[1] if said.count("`") >= 2 else ""
    example = extra(metas, "example")
    written = f"; e.g. `{field}: {example}`" if example and value is not None else ""
    return _type_message(expected.replace(" | null", ""), value) + written


def _literal(base: Any) -> str | None:
    """`'a', 'b' or 'c'` for a Literal type (None for any other)."""
    if typing.get_origin(base) is not typing.Literal:
        return None
    names = [repr(a) for a in typing.get_args(base)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _not_an_id(value: object, what: str) -> str:
    return (
        f"{_short(value)} is not a valid {what}; use letters, digits, '_', '-' and '.', "
        "starting with a letter, digit or '_' (ASCII letters only: a-z, A-Z)"
    )


def _key_message(kind: str, value: object, key_type: Any, metas: list[Meta]) -> str:
    """A key of a mapping that cannot be one (a number, a bad name, an unknown rule)."""
    literal = _literal(key_type)
    if literal is not None:
        words = [str(a) for a in typing.get_args(key_type)]
        if isinstance(value, str):
            return unknown_key(cut(value), words)
        return f"a key must be one of {', '.join(words)}, got {shown(value)}"
    if kind == "pattern":
        return _not_an_id(value, "name")
    if kind == "length":
        longest = next((x.max_length for x in metas if x.max_length is not None), None)
        return f"is {len(str(value))} characters long; at most {longest}"
    return f"must be a name, got {shown(value)}{_quote_hint(value)}"


def key_of_model(value: object) -> str:
    """A key of a model's mapping that is not text (YAML read `2024:` or `on:` as a value)."""
    return f"a key must be text, got {shown(value)}{_quote_hint(value)}"


def _type_message(expected: str, value: object) -> str:
    if expected == "bool | int | float | str":
        return f"must be text, a number or true/false, got {shown(value)}"
    if expected == "str":
        return f"must be text, got {shown(value)}{_quote_hint(value)}"
    if expected == "int":
        return f"must be a whole number, got {shown(value)}{_unquote_hint(value, int)}"
    if expected == "float":
        return f"must be a number, got {shown(value)}{_unquote_hint(value, float)}"
    if expected == "bool":
        return f"must be true or false, got {shown(value)}{_unquote_hint(value, bool)}"
    if expected == "array":
        if value is None:
            return "is empty; give a list, e.g. [a, b], or remove the key"
        hint = f"; write [{cut(str(value))}]" if isinstance(value, str | int | float) else ""
        return f"must be a list, got {shown(value)}{hint}"
    if expected == "object":
        if value is None:
            return "is empty; give a mapping of `key: value` lines, or remove the key"
        # (a list of one-key mappings, each key its own: `- coder: {...}` for `coder: {...}`)
        items = value if isinstance(value, list) else []
        keys = [k for v in items if isinstance(v, dict) for k in v]
        listed = (
            bool(items)
            and all(isinstance(v, dict) and len(v) == 1 for v in items)
            and len(set(keys)) == len(keys)
        )
        hint = "; write its entries without the '- ' (they are not a list)" if listed else ""
        return f"must be a mapping of `key: value` lines, got {shown(value)}{hint}"
    return f"must be {expected}, got {shown(value)}; see `phasegate schema` for what is allowed"


def _unquote_hint(value: object, kind: type) -> str:
    """`; write 2, without quotes`: a number or a truth written as text (`slots: "2"`). The
    plan takes what its JSON Schema takes, so a quoted number is not read as one."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if kind is bool:
        plain = text.lower() in ("true", "false")
        return f"; write {text.lower()}, without quotes" if plain else ""
    if re.fullmatch(r"[-+]?\d+" if kind is int else r"[-+]?\d+(\.\d+)?", text):
        return f"; write {text}, without quotes"
    try:  # (YAML reads `1e400`, without a dot, as text)
        return "" if math.isfinite(float(text)) else "; no number is that large"
    except ValueError:
        return ""
