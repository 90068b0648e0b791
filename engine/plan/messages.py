"""Words for plan problems: pydantic's errors said as what is wrong and what is allowed."""

from __future__ import annotations

import reprlib
import typing
from typing import Any

from phasegate.engine.plan import model as m

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxdict = 4
_repr.maxlevel = 2


def _child(annotation: Any) -> tuple[type[m.Model], int] | None:
    """The model inside a field's type, and how many list or mapping levels wrap it."""
    if isinstance(annotation, type) and issubclass(annotation, m.Model):
        return annotation, 0
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (list, dict) and args:
        inner = _child(args[-1])
        return (inner[0], inner[1] + 1) if inner else None
    if len(args) == 1:  # X | None
        return _child(args[0])
    return None


def _children() -> dict[tuple[type[m.Model], str], tuple[type[m.Model], int]]:
    """(model, field) -> (the model of its value, the list or mapping levels in between),
    read from the model so that a new nested model needs no change here."""
    out = {}
    todo: list[type[m.Model]] = [m.Plan]
    while todo:
        cls = todo.pop()
        for name, field in cls.model_fields.items():
            child = _child(field.annotation)
            if child and (cls, name) not in out:
                out[(cls, name)] = child
                todo.append(child[0])
    return out


_CHILDREN = _children()

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


def cut(name: str, limit: int = 60) -> str:
    """A name from the plan, short enough for a message."""
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _short(value: object, limit: int = 60) -> str:
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def model_at(path: tuple[str | int, ...]) -> type[m.Model] | None:
    """The model whose mapping holds the last key of `path` (None outside the model)."""
    cls: type[m.Model] = m.Plan
    parts = path[:-1]
    i = 0
    while i < len(parts):
        child = _CHILDREN.get((cls, str(parts[i])))
        if child is None:
            return None
        cls, skip = child
        i += 1 + skip
    return cls if i == len(parts) else None


def unknown_key(key: str, allowed: list[str]) -> str:
    import difflib  # (only for a plan with a mistake: not at start-up)

    hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    dym = f"did you mean '{hint[0]}'? " if hint else ""
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


def pydantic_message(err: Any, path: tuple[str | int, ...], is_key: bool = False) -> str:
    """One pydantic error as `what is wrong; what is allowed or what to do`."""
    kind: str = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    field = str(path[-1]) if path else ""
    if kind == "extra_forbidden":
        cls = model_at(path)
        return unknown_key(_short(field).strip("'\""), list(cls.model_fields) if cls else [])
    if kind == "invalid_key":
        return f"a key must be text, got {shown(value)}{_quote_hint(value)}"
    if kind == "missing":
        what = _REQUIRED.get(field, f"`{field}:`")
        return f"is required; add {what}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "var_type":
        return f"must be text, a number or true/false, got {shown(value)}"
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}, got {shown(value)}"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more, got {shown(value)}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be {ctx.get('le', ctx.get('lt'))} or less, got {shown(value)}"
    if kind == "literal_error":
        extra = " (yes, no, on and off are true/false in YAML)" if isinstance(value, bool) else ""
        return f"got {shown(value)}{extra}; allowed: {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        what = "name" if is_key else "id"
        return (
            f"{_short(value)} is not a valid {what}; use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_'"
        )
    if kind == "string_too_long":
        return f"is {len(value)} characters long; at most {ctx.get('max_length')}"
    if kind in ("too_short", "string_too_short"):
        return f"must not be empty; {_NON_EMPTY.get(field, 'give a value or remove the key')}"
    if kind == "string_type":
        what = "a name" if is_key else "text"
        return f"must be {what}, got {shown(value)}{_quote_hint(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"must be a whole number, got {shown(value)}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number, got {shown(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {shown(value)}"
    if kind == "list_type":
        if value is None:
            return "is empty; give a list, e.g. [a, b], or remove the key"
        hint = f"; write [{value}]" if isinstance(value, str | int | float) else ""
        return f"must be a list, got {shown(value)}{hint}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if value is None:
            return "is empty; give a mapping of `key: value` lines, or remove the key"
        return f"must be a mapping of `key: value` lines, got {shown(value)}"
    return f"{err['msg']}, got {shown(value)}; see `phasegate schema` for what is allowed"
