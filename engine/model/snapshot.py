"""Snapshots of the fold: a RunState as JSON, so that attaching to a long run or resuming it
folds only the events after the newest snapshot instead of every event from the first.

The format name is derived from the state classes' fields: a phasegate whose RunState has other
fields writes (and reads) another format, and a snapshot it cannot read is simply not used.
"""

from __future__ import annotations

import hashlib
import typing
from functools import cache

import msgspec

from phasegate.engine.model import state as st
from phasegate.engine.model.fold import apply

if typing.TYPE_CHECKING:
    from phasegate.engine.store.base import Store

SNAPSHOT_EVERY = 20_000  # events between two snapshots of a run

_encoder = msgspec.json.Encoder()


@cache
def _decoder() -> msgspec.json.Decoder[st.RunState]:
    """Built on first use: it reads every state class's annotations (3 ms; a run that never
    loads a snapshot does not pay it)."""
    return msgspec.json.Decoder(st.RunState)


def _structs(hint: object) -> list[type[msgspec.Struct]]:
    """The state classes a field's type names (RunState's dicts of TaskState, ...)."""
    found = [hint] if isinstance(hint, type) and issubclass(hint, msgspec.Struct) else []
    for inner in typing.get_args(hint):
        found += _structs(inner)
    return found


@cache
def snapshot_format() -> str:
    """A name for the current shape of RunState (classes, fields and their types)."""
    seen: list[str] = []
    todo: list[type[msgspec.Struct]] = [st.RunState]
    visited: set[type] = set()
    while todo:
        cls = todo.pop(0)
        if cls in visited:
            continue
        visited.add(cls)
        for f in msgspec.structs.fields(cls):
            seen.append(f"{cls.__name__}.{f.name}:{f.type}")
            todo += _structs(f.type)
    return "json2-" + hashlib.sha256("\n".join(seen).encode()).hexdigest()[:16]


def dump(state: st.RunState) -> bytes:
    return _encoder.encode(state)


def load(data: bytes) -> st.RunState:
    return _decoder().decode(data)


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
