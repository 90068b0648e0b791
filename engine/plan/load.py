"""Read a plan file: libyaml first (fast), pydantic and semantic checks, every problem with its line.

Lines come from re-composing the YAML with marks, which is done only when there are problems to
place. Hostile input (alias bombs, binary junk, huge files) is refused with a problem, never a hang.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import PlanError, Problem
from .check import semantic_problems
from .model import Plan

MAX_BYTES = 32 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class Lines:
    """Maps a key path to the line it is written on, composing the YAML with marks on first use."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._root: yaml.Node | None = None
        self._composed = False

    def _node(self) -> yaml.Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self._text, Loader=_Loader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def line(self, path: Path, key: bool = False) -> int | None:
        """The 1-based line of the value at `path` (of its key when `key` is true)."""
        node = self._node()
        if node is None:
            return None
        line = node.start_mark.line + 1
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        line = (k if (last and key) else v).start_mark.line + 1
                        node = v
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _expanded_size(root: object, limit: int) -> int:
    """Nodes the data would have with every alias expanded (counted without expanding)."""
    memo: dict[int, int] = {}
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        obj, done = stack.pop()
        if not isinstance(obj, dict | list):
            continue
        key = id(obj)
        if key in memo:
            continue
        children = list(obj.values()) if isinstance(obj, dict) else obj
        if done:
            total = 1
            for c in children:
                total += memo.get(id(c), 1) if isinstance(c, dict | list) else 1
                if total > limit:
                    return total
            memo[key] = total
        else:
            stack.append((obj, True))
            stack.extend((c, False) for c in children if isinstance(c, dict | list))
    return memo.get(id(root), 1)


_MESSAGES = {
    "missing": "is required",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _message(err: dict[str, Any], path: Path, allowed_keys: list[str]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(path[-1])
        hint = difflib.get_close_matches(key, allowed_keys, n=1, cutoff=0.6)
        dym = f"did you mean '{hint[0]}'? " if hint else ""
        return f"unknown key '{key}'; {dym}allowed: {', '.join(allowed_keys)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be {ctx.get('ge', ctx.get('gt'))} or more, got {err.get('input')!r}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be {ctx.get('le', ctx.get('lt'))} or less, got {err.get('input')!r}"
    if kind == "literal_error":
        return f"got {err.get('input')!r}; allowed: {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return (
            f"{err.get('input')!r} is not a valid id; use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_'"
        )
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind in _MESSAGES:
        got = err.get("input")
        suffix = f", got {type(got).__name__} {got!r}" if kind != "missing" else ""
        return _MESSAGES[kind] + suffix[:80]
    return str(err["msg"])


def _allowed_keys(path: Path) -> list[str]:
    """The keys allowed in the mapping that holds `path[-1]`."""
    from . import model as m

    parent = [p for p in path[:-1] if isinstance(p, str)]
    cls: type[m.Model] = m.Plan
    by_field: dict[str, type[m.Model]] = {
        "agents": m.Agent,
        "resources": m.Resource,
        "phases": m.Phase,
        "tasks": m.Task,
        "gates": m.Gate,
        "criteria": m.Criterion,
        "checks": m.Checks,
        "on_reject": m.OnReject,
    }
    for name in parent:
        cls = by_field.get(name, cls)
    return list(cls.model_fields)


def _pydantic_problems(exc: ValidationError, file: str, lines: Lines) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path: Path = tuple(p for p in err["loc"] if isinstance(p, int | str))
        # drop pydantic's union/validator tags, which are not keys of the file
        path = tuple(p for p in path if not (isinstance(p, str) and "[" in p))
        is_key = err["type"] == "extra_forbidden"
        msg = _message(err, path, _allowed_keys(path) if is_key else [])
        problems.append(Problem(file, lines.line(path, key=is_key), format_path(path), msg))
    return problems


def parse_text(text: str, file: str) -> tuple[object, list[Problem]]:
    """libyaml parse with the guards; returns the data or the problems."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or str(exc)
        return None, [Problem(file, line, "", f"YAML syntax error: {what}; fix the YAML syntax")]
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, [Problem(file, None, "", f"YAML cannot be read: {first}")]
    if data is None:
        return None, [Problem(file, 1, "", "the plan is empty; a plan needs name, agents, phases")]
    if not isinstance(data, dict):
        kind = type(data).__name__
        return None, [Problem(file, 1, "", f"a plan must be a mapping of keys, got a {kind}")]
    if _expanded_size(data, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
        return None, [
            Problem(
                file,
                None,
                "",
                "YAML aliases expand past 2,000,000 nodes (an alias bomb?); write the plan out",
            )
        ]
    return data, []


def read_text(path: str) -> tuple[str, list[Problem]]:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            mib = size / 2**20
            msg = f"the file is {mib:.0f} MiB; plans are limited to 32 MiB"
            return "", [Problem(path, None, "", msg)]
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return "", [Problem(path, None, "", "no such file; check the path")]
    except IsADirectoryError:
        return "", [Problem(path, None, "", "is a directory; give the plan's YAML file")]
    except OSError as exc:
        return "", [Problem(path, None, "", f"cannot be read: {exc.strerror}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        msg = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); a plan is a YAML text file"
        return "", [Problem(path, line, "", msg)]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return "", [Problem(path, line, "", "binary data (a NUL byte); a plan is a YAML text file")]
    return text, []


def plan_from_text(
    text: str, file: str, base_dir: str, extra_vars: Iterable[str] = ()
) -> Plan:
    """Validate a plan's text; raise PlanError with every problem, each placed on its line."""
    data, problems = parse_text(text, file)
    if problems:
        raise PlanError(problems)
    assert isinstance(data, dict)
    lines = Lines(text)
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, file, lines))
    for path, key, message in semantic_problems(data, extra_vars):
        problems.append(Problem(file, lines.line(path, key=key), format_path(path), message))
    if problems or plan is None:
        problems.sort(key=lambda p: p.line or 0)
        raise PlanError(problems)
    plan._path = file
    plan._dir = base_dir
    return plan


def load_plan(path: str, extra_vars: Iterable[str] = ()) -> Plan:
    """Load and validate a plan file; raise PlanError listing every problem."""
    text, problems = read_text(path)
    if problems:
        raise PlanError(problems)
    return plan_from_text(text, path, os.path.dirname(os.path.abspath(path)), extra_vars)


def validate_file(path: str, extra_vars: Iterable[str] = ()) -> list[Problem]:
    try:
        load_plan(path, extra_vars)
    except PlanError as exc:
        return exc.problems
    return []
