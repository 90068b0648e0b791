"""Glyphs and styles shared by the widgets (colour is dropped by Textual under NO_COLOR)."""

from __future__ import annotations

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
