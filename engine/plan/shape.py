"""The plan model's types, walked: what a key path of a plan's data should hold, the durations
and sizes read before the conversion (fields marked `read` in the model), and samples (values
that convert, put in place of wrong ones). The conversion itself, every problem found in one
pass, is plan/convert.py's.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal, NamedTuple, Union

import msgspec
from msgspec import Meta, Struct

from phasegate.engine.plan import model as m

Path = tuple[str | int, ...]


class Issue(NamedTuple):
    """One problem: where, whether about the key itself, its kind (`extra`, `missing`, `type`,
    `bound`, `length`, `pattern`, `literal`, `value`), what msgspec said, and the type there."""

    path: Path
    key: bool
    kind: str
    said: str
    hint: Any  # the type at `path` (for `extra`: the model whose key is unknown)


@cache
def strip(tp: Any, optional: bool = False) -> tuple[Any, list[Meta]]:
    """`Annotated[T, Meta(...), ...]` -> (T, its Metas); `optional`: `T | None` -> T too."""
    metas: list[Meta] = []
    while True:
        if typing.get_origin(tp) is Annotated:
            tp, *more = typing.get_args(tp)
            metas.extend(x for x in more if isinstance(x, Meta))
            continue
        others = [x for x in members(tp) if x is not type(None)]
        if optional and len(others) == 1 and others[0] is not tp:
            tp = others[0]
            continue
        return tp, metas


def extra(metas: list[Meta], name: str) -> Any:
    for meta in metas:
        if meta.extra and name in meta.extra:
            return meta.extra[name]
    return None


@cache
def members(tp: Any) -> tuple[Any, ...]:
    """The members of a union (the type alone otherwise)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Struct)


@cache
def fields(cls: type[Struct]) -> dict[str, Any]:
    """A model's keys and their types."""
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


@cache
def required(cls: type[Struct]) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in msgspec.structs.fields(cls)
        if f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT
    )


def pick(tp: Any, value: object) -> Any:
    """The member of a union that a value of this shape is checked against."""
    options = [strip(x)[0] for x in members(strip(tp)[0])]
    for option in options:
        origin = typing.get_origin(option) or option
        if isinstance(value, dict) and (is_model(option) or origin is dict):
            return option
        if isinstance(value, list) and origin is list:
            return option
    return tp


def child(tp: Any, value: object, part: str | int) -> Any:
    """The type of `value[part]`, `value` being of type `tp`."""
    base = strip(pick(tp, value))[0]
    if is_model(base):
        return fields(base).get(str(part), Any)
    args = typing.get_args(base)
    origin = typing.get_origin(base)
    if origin is list and args:
        return args[0]
    if origin is dict and args:
        return args[1]
    return Any


def type_at(path: Path, data: object, root: type[Struct] = m.Plan) -> Any:
    tp: Any = root
    for part in path:
        tp = child(tp, data, part)
        data = item(data, part)
    return tp


def value_at(path: Path, data: object) -> object:
    """What the data holds at `path` (None where it holds nothing)."""
    for part in path:
        data = item(data, part)
    return data


def item(data: object, part: str | int) -> object:
    """`data[part]` of a mapping or a list (None: no such key or item, or neither)."""
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None


# --- durations and sizes, read before the conversion ------------------------------------------


@cache
def _reads(tp: Any) -> bool:
    """Does a value of this type hold a duration or a size somewhere?"""
    base, metas = strip(tp)
    if extra(metas, "read"):
        return True
    if is_model(base):
        return any(_reads(t) for t in fields(base).values())
    return any(_reads(a) for a in typing.get_args(base) if a is not type(None))


Reader = Callable[[Any, Path, list[Issue]], Any]


def read(tp: Any, value: Any, path: Path, issues: list[Issue]) -> Any:
    """`value` with its durations and sizes read (containers copied where one changed); a
    duration that cannot be read is noted and replaced by a sample."""
    reader = _reader(tp)
    return value if reader is None else reader(value, path, issues)


@cache
def _reader(tp: Any) -> Reader | None:
    """A function that reads the durations and sizes in a value of type `tp` (None: it holds
    none), built once per type: a big plan is read without looking at its types again."""
    if not _reads(tp):
        return None
    base, metas = strip(tp)
    how = extra(metas, "read")
    if how:
        parse = m.READERS[how]

        def scalar(value: Any, path: Path, issues: list[Issue]) -> Any:
            try:
                return parse(value)
            except ValueError as exc:
                issues.append(Issue(path, False, "value", str(exc), tp))
                return sample(tp)

        return scalar
    if len(members(base)) > 1:
        options = [x for x in members(base) if x is not type(None)]
        other = next((_reader(x) for x in options if _shape(x) is None and _reads(x)), None)
        # a member of the value's shape reads it; no such member: the scalar one (its error)
        by_shape = {
            shape: next((_reader(x) for x in options if _shape(x) is shape), other)
            for shape in (dict, list)
        }

        def union(value: Any, path: Path, issues: list[Issue]) -> Any:
            if value is None:
                return value
            chosen = by_shape.get(type(value), other)
            return value if chosen is None else chosen(value, path, issues)

        return union
    if is_model(base):
        parts = [(n, r) for n, t in fields(base).items() if (r := _reader(t)) is not None]

        def model(value: Any, path: Path, issues: list[Issue]) -> Any:
            if not isinstance(value, dict):
                return value
            out = value
            for name, part in parts:
                if name in value:
                    old = value[name]
                    new = part(old, (*path, name), issues)
                    if new is not old:
                        out = dict(out) if out is value else out
                        out[name] = new
            return out

        return model
    args = typing.get_args(base)
    inner = _reader(args[-1]) if args else None
    if inner is None:
        return None
    if typing.get_origin(base) is list:

        def items(value: Any, path: Path, issues: list[Issue]) -> Any:
            if not isinstance(value, list):
                return value
            new = [inner(v, (*path, i), issues) for i, v in enumerate(value)]
            return new if any(a is not b for a, b in zip(new, value, strict=True)) else value

        return items

    def mapping(value: Any, path: Path, issues: list[Issue]) -> Any:
        if not isinstance(value, dict):
            return value
        new = {k: inner(v, (*path, k), issues) for k, v in value.items()}
        return new if any(new[k] is not v for k, v in value.items()) else value

    return mapping


def _shape(tp: Any) -> type | None:
    """dict or list: the shape of data a type is read from (None: a scalar)."""
    base = strip(tp)[0]
    origin = typing.get_origin(base) or base
    if is_model(base) or origin is dict:
        return dict
    return list if origin is list else None


# --- samples: values that convert, put in place of wrong ones ---------------------------------


def sample(tp: Any) -> Any:
    base, metas = strip(tp)
    if len(members(base)) > 1:  # the first member that is not None: the key was given
        return sample(next(x for x in members(base) if x is not type(None)))
    if typing.get_origin(base) is Literal:
        return typing.get_args(base)[0]
    bound = {k: getattr(x, k) for x in metas for k in ("ge", "gt", "le", "lt", "min_length")}
    bound = {k: v for k, v in bound.items() if v is not None}
    if base is bool:
        return False
    if base in (int, float):
        low = bound.get("ge", bound.get("gt"))
        high = bound.get("le", bound.get("lt"))
        if low is None:
            return 0 if high is None or high > 0 else high - 1
        if "gt" in bound:
            step = 1 if base is int else (min(1.0, (high - low) / 2) if high is not None else 1.0)
            return low + step
        return low
    if base is str:
        return "_" * max(1, bound.get("min_length", 1))
    args = typing.get_args(base)
    if typing.get_origin(base) is list:
        return [sample(args[0]) for _ in range(bound.get("min_length", 0))]
    if typing.get_origin(base) is dict:
        return {f"_{i}": sample(args[1]) for i in range(bound.get("min_length", 0))}
    if is_model(base):
        some = {name: sample(fields(base)[name]) for name in required(base)}
        return {**some, **getattr(base, "SAMPLE", {})}
    return None
