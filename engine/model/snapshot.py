"""Snapshots of the fold: a RunState in MessagePack, so that attaching to a long run or resuming it
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

# MessagePack: its floats are IEEE doubles, so a NaN or an infinity (a cost a CLI reported as
# such) reads back as it was written (JSON has neither: msgspec writes null, which no float
# field takes back)
_encoder = msgspec.msgpack.Encoder()


@cache
def _decoder() -> msgspec.msgpack.Decoder[st.RunState]:
    """Built on first use: it reads every state class's annotations (3 ms; a run that never
    loads a snapshot does not pay it)."""
    return msgspec.msgpack.Decoder(st.RunState)


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
    return "msgpack1-" + hashlib.sha256("\n".join(seen).encode()).hexdigest()[:16]


def dump(state: st.RunState) -> bytes:
    return _encoder.encode(state)


def load(data: bytes) -> st.RunState:
    return _decoder().decode(data)


def readable(data: bytes) -> st.RunState | None:
    """The state a snapshot holds, or None when it cannot be read (damaged): the run is then
    folded from its first event, as when it has no snapshot."""
    try:
        return load(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def fold_run(store: Store, run_id: str) -> tuple[st.RunState, int]:
    """A run's state from its newest snapshot and the events after it; and its last seq."""
    return await fold_from(store, run_id, await store.latest_snapshot(run_id, snapshot_format()))


async def fold_from(
    store: Store, run_id: str, found: tuple[int, bytes] | None
) -> tuple[st.RunState, int]:
    """As `fold_run`, from a snapshot already read (`found`: its seq and data, or None)."""
    state, seq = st.RunState(), 0
    kept = readable(found[1]) if found is not None else None
    if found is not None and kept is not None:
        state, seq = kept, found[0]
    events = await store.read_events(run_id, seq)
    for _, event in events:
        apply(state, event)
    return state, events[-1][0] if events else seq
