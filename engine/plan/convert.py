"""A plan's data against the plan model: converted in C by msgspec, every problem found in one pass.

msgspec stops at the first problem. So, when a plan has one, it is noted (placed on the key path
it names, resolving the `[...]` msgspec writes for a mapping's value), the wrong value is put
right in a copy of the data (an unknown key dropped, a wrong value or a missing key replaced by a
sample that converts), and the copy converted again, until it converts or nothing can be put
right. Durations and sizes are read before (plan/shape.py).
"""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec
from msgspec import Struct

from phasegate.engine.plan import model as m
from phasegate.engine.plan.shape import (
    Issue,
    Path,
    child,
    is_model,
    item,
    pick,
    read,
    sample,
    strip,
    type_at,
)

MAX_PROBLEMS = 200  # msgspec's problems found one at a time: a plan this wrong is one to redo

STOPPED = (
    "stopped after {n} problems with keys and values, and there is at least one more (each is "
    "found by converting the plan again): fix these first"
)


def convert(data: Any, cls: type[Struct] = m.Plan) -> tuple[Any, list[Issue]]:
    """(the model, []) for good data; (None, every problem) otherwise. The durations and sizes
    are read in one pass (every problem of theirs); msgspec then names one problem a pass, so
    after MAX_PROBLEMS of those the search stops, with an issue that says so."""
    issues: list[Issue] = []
    work = read(cls, data, (), issues)
    seen: set[tuple[Path, str]] = set()
    emptied: set[Path] = set()  # mappings a bad key was dropped from
    for _ in range(MAX_PROBLEMS):
        try:
            made = msgspec.convert(work, cls, strict=True)
        except msgspec.ValidationError as exc:
            issue = locate(str(exc), work, cls)
            if issue is None or (issue.path, issue.said) in seen:
                if issue is not None or not issues:
                    issues.append(issue or Issue((), False, "value", str(exc), cls))
                return None, issues
            seen.add((issue.path, issue.said))
            if issue.kind == "extra" or issue.key:
                emptied.add(issue.path[:-1])
            # (a mapping empty only because its one bad key was dropped is that key's problem)
            if not (issue.kind == "length" and issue.path in emptied):
                issues.append(issue)
            fixed = repair(work, issue, cls)
            if fixed is None:
                return None, issues
            work = fixed
        else:
            return (None, issues) if issues else (made, [])
    try:  # (the last repair may have been the last problem)
        made = msgspec.convert(work, cls, strict=True)
    except msgspec.ValidationError:
        issues.append(Issue((), False, "value", STOPPED.format(n=MAX_PROBLEMS), cls))
        return None, issues
    return (None, issues) if issues else (made, [])


_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\.\.\.)\]")


def locate(text: str, data: Any, cls: type[Struct]) -> Issue | None:
    """msgspec's message as an Issue on a key path of `data` (None: not one of its forms)."""
    said, sep, where = text.rpartition(" - at `")
    if not sep:
        said, where = text, "$`"
    on_key = where.startswith("key` in `")
    where = where.removeprefix("key` in `").removesuffix("`")
    if not where.startswith("$"):
        return None
    path: list[str | int] = []
    tp: Any = cls
    value = data
    for name, index, anykey in _TOKEN.findall(where[1:]):
        part: str | int
        if anykey:
            part = _failing_key(tp, value, on_key=False)
            if part is _NO_KEY:
                return None
        else:
            part = name or int(index)
        tp = child(tp, value, part)
        value = item(value, part)
        path.append(part)
    if on_key:
        key = _failing_key(tp, value, on_key=True)
        if key is _NO_KEY:
            return None
        return Issue((*path, key), True, _kind(said), said, tp)
    for prefix, kind in (
        ("Object contains unknown field `", "extra"),
        ("Object missing required field `", "missing"),
    ):
        if said.startswith(prefix):
            name = said[len(prefix) : -1]
            model = strip(pick(tp, value))[0]
            return Issue(
                (*path, name),
                False,
                kind,
                said,
                model if kind == "extra" else child(tp, value, name),
            )
    return Issue(tuple(path), False, _kind(said), said, tp)


_NO_KEY = object()


def _kind(said: str) -> str:
    if said.startswith("Invalid enum value"):
        return "literal"
    if said.startswith("Expected `") and "matching regex" in said:
        return "pattern"
    if said.startswith("Expected `") and " of length " in said:
        return "length"
    if said.startswith("Expected `") and ", got `" in said:
        return "type"
    if said.startswith("Expected `") and said.split("`")[2].strip()[:1] in "<>":
        return "bound"
    if said.startswith("Expected `") and said.count("`") == 2:  # `Expected `str``: a key's type
        return "type"
    return "value"


def _failing_key(tp: Any, value: object, on_key: bool) -> Any:
    """The first key of a mapping whose key (or value) does not convert: msgspec's `[...]`
    (_NO_KEY: none; a key may be None, YAML's `~:`)."""
    if not isinstance(value, dict):
        return _NO_KEY
    base = strip(pick(tp, value))[0]
    if is_model(base):
        return next((k for k in value if not isinstance(k, str)), _NO_KEY) if on_key else _NO_KEY
    args = typing.get_args(base)
    if len(args) != 2:
        return _NO_KEY
    key_type, value_type = args
    for k, v in value.items():
        try:
            msgspec.convert(k, key_type, strict=True)
        except msgspec.ValidationError:
            if on_key:
                return k
            continue
        if on_key:
            continue
        try:
            msgspec.convert(v, value_type, strict=True)
        except msgspec.ValidationError:
            return k
    return _NO_KEY


def repair(data: Any, issue: Issue, cls: type[Struct]) -> Any:
    """A copy of `data` with the issue's value put right (None: it cannot be)."""
    if not issue.path:
        return None
    *parents, last = issue.path
    if issue.kind == "extra" or issue.key:
        value = _DROP
    else:
        value = sample(issue.hint if issue.kind == "missing" else type_at(issue.path, data, cls))
    try:
        return _set(data, tuple(parents), last, value)
    except _Unfixable:
        return None


_DROP = object()


def _set(data: Any, parents: Path, last: str | int, value: Any) -> Any:
    """A copy of `data` (containers copied along the path only) with `data[...][last] = value`."""
    if not parents:
        if isinstance(data, dict):
            out = dict(data)
            if value is _DROP:
                out.pop(last, None)
            else:
                out[last] = value
            return out
        if isinstance(data, list) and isinstance(last, int) and last < len(data):
            items = list(data)
            items[last] = None if value is _DROP else value
            return items
        raise _Unfixable
    head, *rest = parents
    inner = item(data, head)
    if not isinstance(inner, dict | list):
        raise _Unfixable
    return _set(data, (), head, _set(inner, tuple(rest), last, value))


class _Unfixable(Exception):
    pass


def parse(cls: type[Any], data: Any) -> Any:
    """One part of a plan from its data, as a plan file writes it (durations like `30s`);
    ValueError naming every problem."""
    made, issues = convert(data, cls)
    if issues:
        raise ValueError(
            "; ".join(f"{'.'.join(map(str, i.path)) or cls.__name__}: {i.said}" for i in issues)
        )
    return made
