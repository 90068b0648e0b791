"""Glyphs and styles shared by the widgets, in colour and without it.

Under NO_COLOR (or `--color never`) Textual turns every colour into its grey of the same
brightness: red became a dark grey on the dark panels (about 1.3:1), so that a failed task was
the least readable row. Without colour the styles are made of bold, reverse and dim instead
(`use_colour(False)`, which the app calls as it starts), so that what needs a person stands out
most, as it does in colour."""

from __future__ import annotations

from rich.text import Text

STATUS_STYLE = {
    "pending": "dim",
    "ready": "cyan",
    "running": "bold blue",
    "succeeded": "green",
    "failed": "bold red",
    "timed_out": "bold red",
    "cancelled": "yellow",
    "skipped": "cyan",
    "blocked": "yellow",
    "paused": "yellow",
    "held": "bold yellow",  # a phase paused alone: a person resumes it
    "interrupted": "bold red",
    "not_ready": "bold red",
    "busy": "bold blue",
    "idle": "green",
    "offline": "red",
    "waiting": "bold yellow",  # an agent's task waits for a permission answer
    "late": "red",  # a phase forecast to run past its timebox (its time left ends in `!`)
    "priority": "bold magenta",  # a task's priority beside its id (`build ↑2`)
}

GLYPH = {
    "pending": "·",
    "ready": "○",
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "timed_out": "⏱",
    "cancelled": "■",
    "skipped": "↷",
    "blocked": "⊘",
}

GATE_STYLE = {
    "waiting": "dim",
    "open": "bold yellow",
    "passed": "green",
    "rejected": "bold red",
    "failed": "bold red",
}

SEVERITY_STYLE = {
    "info": "dim",
    "low": "cyan",
    "medium": "yellow",
    "high": "bold red",
    "critical": "bold white on red",
}

# without colour: what needs a person is reversed, what is under way bold, what waits dim
_ALERT, _ACTIVE = "bold reverse", "bold"
_MONO = {
    "status": {
        "pending": "dim",
        "running": _ACTIVE,
        "failed": _ALERT,
        "timed_out": _ALERT,
        "interrupted": _ALERT,
        "not_ready": _ALERT,
        "busy": _ACTIVE,
        "offline": _ALERT,
        "waiting": _ALERT,
        "held": _ALERT,
        "late": _ACTIVE,
        "priority": _ACTIVE,
    },
    "gate": {"waiting": "dim", "open": _ALERT, "rejected": _ALERT, "failed": _ALERT},
    "severity": {"info": "dim", "medium": _ACTIVE, "high": _ALERT, "critical": _ALERT},
}
_TABLES = {"status": STATUS_STYLE, "gate": GATE_STYLE, "severity": SEVERITY_STYLE}
_COLOUR = {name: dict(table) for name, table in _TABLES.items()}


def use_colour(colour: bool) -> None:
    """The widgets' styles in colour, or made of bold, reverse and dim (NO_COLOR)."""
    for name, table in _TABLES.items():
        table.clear()
        if colour:
            table.update(_COLOUR[name])
        else:  # (a status with no style of its own is plain text)
            table.update(dict.fromkeys(_COLOUR[name], "") | _MONO[name])


def status_glyph(status: str) -> str:
    return GLYPH.get(status, "•")


def counts_glyphs(counts: dict[str, int]) -> Text:
    """Counts by status in a few columns: `✓12 ✗1 ⊘3`."""
    out = Text(no_wrap=True)
    for status in (
        "running",
        "succeeded",
        "failed",
        "timed_out",
        "blocked",
        "cancelled",
        "skipped",
        "ready",
        "pending",
    ):
        if counts.get(status):
            out.append(
                f"{status_glyph(status)}{counts[status]} ", style=STATUS_STYLE.get(status, "")
            )
    return out
