"""The base of every event: the `Event` struct, the registry of type names and versions, the
upcasters of older versions, and reading an event back from storage (`from_record`): an event
type this phasegate does not know is kept as an `UnknownEvent`.

The events themselves are in engine/model/events.py (the run, its phases, tasks and agents, and
the operators' steering) and engine/model/events_oversight.py (checks, gates, risks, notes,
forecasts, research, budgets, permissions, feedback, changes and amendments); import them all
from engine/model/events.py, which names every one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import msgspec
import msgspec.structs
from msgspec import field

# one encoder for every event (json.dumps with options builds a new one per call)
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode

REGISTRY: dict[str, type[Event]] = {}
# (type name, stored version) -> function upgrading the stored data dict to the next version
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

E = TypeVar("E", bound="Event")


def event(name: str, version: int = 1) -> Callable[[type[E]], type[E]]:
    """Register an event class under its stable type name."""

    def register(cls: type[E]) -> type[E]:
        if name in REGISTRY:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type = name
        cls.version = version
        cls._fields = tuple(f for f in cls.__struct_fields__ if f != "ts")
        REGISTRY[name] = cls
        return cls

    return register


class Event(msgspec.Struct, frozen=True, gc=False):
    """Base of every event. `ts` is the wall-clock time (epoch seconds) at which it happened.

    An event is a frozen msgspec Struct: its class is built in C (importing this module, which
    every run and every command does, compiles no generated method for its 46 classes), and an
    event holds only plain values, never itself, so the garbage collector need not track it
    (`gc=False`). Equality, hash and repr compare and show the fields in order, as a frozen
    dataclass's would.
    """

    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    _fields: ClassVar[tuple[str, ...]] = ()

    ts: float

    def data(self) -> dict[str, Any]:
        """The event's own fields as plain values (without `ts`)."""
        return {name: getattr(self, name) for name in self._fields}

    def to_json(self) -> str:
        # ensure_ascii: a lone surrogate (an undecodable byte smuggled in through os.environ or
        # a file name) stays a JSON escape instead of failing to encode as UTF-8 in the store
        return _ENCODE(self.data())

    def record(self) -> tuple[str, int, str]:
        """What a store keeps of the event besides `ts`: (type name, schema version, JSON data)."""
        return self.type, self.version, self.to_json()

    def replace(self: E, **changes: Any) -> E:
        """A copy of the event with `changes` to its fields."""
        return msgspec.structs.replace(self, **changes)


def from_record(type_name: str, ts: float, version: int, data: dict[str, Any]) -> Event:
    """Rebuild an event read from storage, upcasting older schema versions first."""
    cls = REGISTRY.get(type_name)
    if cls is None:
        return UnknownEvent(ts=ts, name=type_name, payload=data, schema_version=version)
    while version < cls.version:
        data = UPCASTERS[(type_name, version)](data)
        version += 1
    known = {k: v for k, v in data.items() if k in cls._fields}
    try:
        return cls(ts=ts, **known)
    except TypeError:  # a newer version of a known type that this version cannot read
        return UnknownEvent(ts=ts, name=type_name, payload=data, schema_version=version)


def from_json(type_name: str, ts: float, version: int, text: str) -> Event:
    return from_record(type_name, ts, version, json.loads(text))


class UnknownEvent(Event, frozen=True):
    """An event written by a newer phasegate; kept and shown, ignored by the fold.

    It keeps the stored type name, version and data, so copying it to another store (an export,
    a test fixture) writes back exactly what the newer phasegate wrote.
    """

    name: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    schema_version: int = 1

    def data(self) -> dict[str, Any]:
        return self.payload

    def record(self) -> tuple[str, int, str]:
        return self.name, self.schema_version, self.to_json()
