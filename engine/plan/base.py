"""What every part of a plan is built on: the `Model` base (unknown keys refused, never changed
once read), durations and sizes as a plan writes them, ids, and the checks and budgets that
several parts share. A field typed `Duration` or `Size` takes `90`, `1h30m` or `500MB` in the
file and holds seconds or bytes; `engine.plan.shape` reads it first (`READERS`)."""

import math
import re
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from phasegate.engine.model.durations import ALLOWED as DURATIONS
from phasegate.engine.model.durations import parse_duration

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
SIZES = "use bytes or a size like 500MB, 2GiB"
_SIZE_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_size(value: object) -> int:
    """Bytes for `1048576`, `500MB`, `16MiB`, `2G`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        from phasegate.engine.plan.messages import shown  # (here: messages imports this module)

        raise ValueError(f"expected a size, got {shown(value)}; {SIZES}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a size must be zero or more, got {value}")
        return int(value)
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size; {SIZES}")
    unit = (m.group(2) or "").lower()
    binary = "i" in unit
    letter = unit.replace("i", "").replace("b", "")
    factor = 1024 ** "bkmgt".index(letter or "b") if binary else _SIZE_UNITS[letter]
    return int(float(m.group(1)) * factor)


AGENT_AND_CAPABILITY = (
    "gives both `agent` and `capability`; give one: `agent` picks the agent, "
    "`capability` lets any agent that has it run the task"
)
SECRET_SOURCE = "a secret has exactly one source: `{env: VARIABLE}` or `{file: PATH}`"
RUN_OR_PROMPT = "a task needs `run` (a command) or `prompt` (what a coding agent is asked)"
CRITERION_KINDS = ("run", "metric", "file", "no_risks", "tests")


def criterion_problem(given: list[str]) -> str | None:
    """What is wrong with a criterion that sets the keys `given`, or None (exactly one is set)."""
    if len(given) == 1:
        return None
    allowed = ", ".join(CRITERION_KINDS)
    if not given:
        return f"a criterion needs one of: {allowed}"
    return f"sets {' and '.join(given)}; a criterion has exactly one of {allowed}: split it"


def read_duration(value: object) -> float:
    """Seconds for a duration as a plan writes it (`90`, `30s`, `1h30m`)."""
    if isinstance(value, bool | list | dict) or value is None:
        from phasegate.engine.plan.messages import shown  # (here: messages imports this module)

        raise ValueError(f"expected a duration, got {shown(value)}; use {DURATIONS}")
    if not _finite(value):
        raise ValueError(
            f"{value!r} is not a duration: it must be a finite number of seconds; use {DURATIONS}"
        )
    return parse_duration(value)


def _finite(value: object) -> bool:
    """False for infinity or not-a-number: YAML's `.inf` and `.nan`, or text float() reads so
    (`inf`, `nan`), which a duration cannot be."""
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(" ", ""))
        except ValueError:
            return True  # (not a number: parse_duration reads it, or says what is wrong)
    return not isinstance(value, float) or math.isfinite(value)


# how `engine.plan.shape` reads a marked field before validating it
READERS = {"duration": read_duration, "size": parse_size}

Duration = Annotated[float, Meta(extra={"read": "duration"})]
Size = Annotated[int, Meta(extra={"read": "size"})]
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
Id = Annotated[str, Meta(pattern=ID_PATTERN, max_length=200)]
Text1 = Annotated[str, Meta(min_length=1)]
Severity = Literal["info", "low", "medium", "high", "critical"]


def _doc(text: str) -> Meta:
    return Meta(description=text)


M = TypeVar("M", bound="Model")


class Model(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A part of a plan: unknown keys are refused, and it never changes once read."""

    # a value that converts, for `engine.plan.shape` to put in place of a wrong one so that
    # the rest of the plan is still checked (only where the required keys alone would not do)
    SAMPLE: ClassVar[dict[str, Any]] = {}

    def dump(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Its fields as plain data (its parts as mappings), every default included."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        for name in exclude:
            out.pop(name, None)
        return out

    def replace(self: M, **changes: Any) -> M:
        """A copy with these fields changed (as `Event.replace`)."""
        return msgspec.structs.replace(self, **changes)


class Checks(Model, frozen=True):
    """Preconditions checked before the first phase (plan level) or before a phase starts."""

    binaries: Annotated[list[str], _doc("commands that must be on PATH")] = []
    files: Annotated[list[str], _doc("paths that must exist")] = []
    env: Annotated[list[str], _doc("environment variables to be set")] = []
    disk: Annotated[Size | None, _doc("free disk space needed in the workdir")] = None
    memory: Annotated[Size | None, _doc("available memory needed")] = None


class Budget(Model, frozen=True):
    """What coding agents may spend (as their CLIs report it): a warning risk at 80%; at 100%
    `stop` (the scope's running tasks are stopped and none of its tasks starts again), `pause`
    (the run pauses until an operator resumes it) or `ask` (the run pauses with a question:
    resuming it extends the budget by its size once more, cancelling stops)."""

    usd: Annotated[float, Meta(gt=0, description="dollars")] | None = None
    tokens: Annotated[int, Meta(gt=0, description="input and output tokens")] | None = None
    turns: (
        Annotated[int, Meta(gt=0, description="the agents' turns (model round trips)")] | None
    ) = None
    seconds: (
        Annotated[Duration, Meta(gt=0, description="wall time of its tasks' attempts, summed")]
        | None
    ) = None
    action: Literal["stop", "pause", "ask"] = "stop"
