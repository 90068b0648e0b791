"""Helpers for dashboard tests: what a widget shows, a live run to attach to, the commands a
dashboard sent."""

from __future__ import annotations

import os
import time

import psutil
from textual.geometry import Region
from textual.widget import Widget

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen

SIZE = (80, 24)


def text(widget: Widget) -> str:
    """What a widget shows on the screen, as plain text (borders and titles included)."""
    width, height = widget.outer_size
    strips = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text for strip in strips)


async def dashboard(app: PhasegateApp, pilot: object) -> DashboardScreen:
    await pilot.pause()  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


async def live_run(db: str, run_id: str, events: list[ev.Event], dead: bool = False) -> str:
    """A run whose engine (this test process) holds the lease, with these events so far;
    `dead`: the lease names an engine that is gone (pid 1 with another start time)."""
    store = await SQLiteStore.open(db)
    now = time.time()
    try:
        await store.create_run(RunRow(run_id, f"{run_id}-plan", "x.yaml", "running", now))
        me = os.getpid()
        pid, started = (1, 0.5) if dead else (me, psutil.Process(me).create_time())
        await store.acquire_lease(run_id, pid, started, now, lambda *_: True)
        await store.write_batch(run_id, list(enumerate(events, 1)))
    finally:
        await store.close()
    return run_id


async def commands(db: str, run_id: str) -> list[tuple[str, dict[str, object]]]:
    store = await SQLiteStore.open(db)
    try:
        return [(c.kind, c.args) for c in await store.claim_commands(run_id, time.time())]
    finally:
        await store.close()
