"""Glyphs and styles shared by the widgets (colour is dropped by Textual under NO_COLOR)."""

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
    "interrupted": "bold red",
    "not_ready": "bold red",
    "busy": "bold blue",
    "idle": "green",
    "offline": "red",
    "waiting": "bold yellow",  # an agent's task waits for a permission answer
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
