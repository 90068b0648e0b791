"""Snapshots of the fold: a RunState as JSON, so that attaching to a long run or resuming it
folds only the events after the newest snapshot instead of every event from the first.

The format name is derived from the state classes' fields: a phasegate whose RunState has other
fields writes (and reads) another format, and a snapshot it cannot read is simply not used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import Any

from phasegate.engine.model import state as st
from phasegate.engine.model.fold import apply

if typing.TYPE_CHECKING:
    from phasegate.engine.store.base import Store

SNAPSHOT_EVERY = 20_000  # events between two snapshots of a run

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _converter(hint: Any) -> Convert:
    """How to rebuild a value of type `hint` from its JSON form."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            conv = _converter(inner[0])
            return lambda v: None if v is None else conv(v)
        return _identity
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decoder(hint)
    if origin is tuple:
        conv = _converter(args[0]) if args and args[-1] is Ellipsis else _identity
        if conv is _identity:
            return tuple
        return lambda v: tuple(conv(x) for x in v)
    if origin is set:
        return set
    if origin is list:
        conv = _converter(args[0]) if args else _identity
        if conv is _identity:
            return list
        return lambda v: [conv(x) for x in v]
    if origin is dict:
        conv = _converter(args[1]) if len(args) == 2 else _identity
        if conv is _identity:
            return dict
        return lambda v: {k: conv(x) for k, x in v.items()}
    return _identity


@cache
def _decoder(cls: type) -> Convert:
    hints = typing.get_type_hints(cls, vars(st))
    plan = [(f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls)]

    def decode(data: dict[str, Any]) -> Any:
        return cls(**{name: conv(data[name]) for name, conv in plan if name in data})

    return decode


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


@cache
def snapshot_format() -> str:
    """A name for the current shape of RunState (classes, fields and their types)."""
    seen: list[str] = []
    visited: set[type] = set()

    def walk(cls: type) -> None:
        visited.add(cls)
        hints = typing.get_type_hints(cls, vars(st))
        for f in dataclasses.fields(cls):
            seen.append(f"{cls.__name__}.{f.name}:{hints[f.name]}")
        for hint in hints.values():
            for inner in (hint, *typing.get_args(hint)):
                known = isinstance(inner, type) and inner in visited
                if not known and isinstance(inner, type) and dataclasses.is_dataclass(inner):
                    walk(inner)

    walk(st.RunState)
    return "json1-" + hashlib.sha256("\n".join(seen).encode()).hexdigest()[:16]


def dump(state: st.RunState) -> bytes:
    return json.dumps(_encode(state), separators=(",", ":")).encode()


def load(data: bytes) -> st.RunState:
    state = _decoder(st.RunState)(json.loads(data))
    assert isinstance(state, st.RunState)
    return state


async def fold_run(store: Store, run_id: str) -> tuple[st.RunState, int]:
    """A run's state from its newest snapshot and the events after it; and its last seq."""
    state, seq = st.RunState(), 0
    found = await store.latest_snapshot(run_id, snapshot_format())
    if found is not None:
        seq, data = found
        state = load(data)
    events = await store.read_events(run_id, seq)
    for _, event in events:
        apply(state, event)
    return state, events[-1][0] if events else seq
