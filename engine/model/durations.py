"""Durations in plans: bare numbers are seconds; `30s`, `5m`, `1h30m`, `2d` are accepted."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
ALLOWED = "a number of seconds or a duration like 90, 30s, 5m, 1h30m"
LONGEST = 366 * 86400.0  # a year: what no plan's timebox, estimate or timeout needs to pass


def parse_duration(value: object) -> float:
    """Return seconds for a plan duration, or raise ValueError saying what is allowed."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}; use {ALLOWED}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            if text.startswith("-"):
                raise ValueError(
                    f"{value!r} is not a valid duration; it must be zero or more"
                ) from None
            pos = 0
            seconds = 0.0
            last = float("inf")  # units must go from larger to smaller, each once: 1h30m
            for m in _PART.finditer(text):
                unit = _UNITS[m.group(2)]
                if m.start() != pos or unit >= last:
                    break
                seconds += float(m.group(1)) * unit
                last = unit
                pos = m.end()
            if pos != len(text) or not text:
                raise ValueError(f"{value!r} is not a duration; use {ALLOWED}") from None
    else:
        raise ValueError(f"expected a duration, got {type(value).__name__}; use {ALLOWED}")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{value!r} is not a valid duration; it must be zero or more")
    if seconds > LONGEST:
        raise ValueError(f"{value!r} is longer than a year; a duration is at most 366d")
    return seconds


def format_duration(seconds: float | None) -> str:
    """Short human form: `850ms`, `12.3s`, `4m05s`, `1h02m`."""
    if seconds is None or seconds != seconds or abs(seconds) == float("inf"):
        return "-"
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_budget(seconds: float | None) -> str:
    """A timebox as plans write it, without zero parts: `15m`, `1h30m`, `2h`, `90s` -> `1m30s`."""
    if seconds is None or seconds < 1 or seconds != round(seconds):
        return format_duration(seconds)
    hours, rest = divmod(int(seconds), 3600)
    minutes, sec = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (sec, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
