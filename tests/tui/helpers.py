"""Helpers for dashboard tests: what a widget shows, a live run to attach to (its engine: this
test process, serving the run's socket), the commands a dashboard sent through it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psutil
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import DataTable, Footer

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import Identity
from phasegate.engine.run.channel import Channel
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.paths import run_dir, socket_path
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


async def until_shown(
    pilot: object, what: str, check: Callable[[], bool], seconds: float = 10
) -> None:
    """Let the dashboard work (it tails the store ten times a second) until `check()` holds, or
    fail naming `what`: on a busy machine (the suite on several workers) no fixed pause will do."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


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
    if not dead:
        taken = _TAKEN.setdefault((db, run_id), [])

        def take(kind: str, args: dict[str, object], who: Identity) -> dict[str, object]:
            taken.append((kind, args, who))
            return {"id": len(taken)}

        channel = Channel(socket_path(run_dir(db, run_id)), take)  # type: ignore[arg-type]
        await channel.open()
        CHANNELS.append(channel)
    return run_id


CHANNELS: list[Channel] = []  # the live runs' sockets, closed after each test (conftest.py)


# what each live run's socket took: (kind, args, sender as the kernel said)
_TAKEN: dict[tuple[str, str], list[tuple[str, dict[str, object], Identity]]] = {}


async def commands(db: str, run_id: str) -> list[tuple[str, dict[str, object]]]:
    """The commands the run's socket took (and forgets them), each sent by this test's user."""
    taken = _TAKEN.pop((db, run_id), [])
    assert all(who.uid == os.geteuid() for _, _, who in taken)
    return [(kind, args) for kind, args, _ in taken]


def rows(table: DataTable[object]) -> list[list[str]]:
    """A DataTable's rows as their cells' texts."""
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def run_started(
    ts: float,
    run_id: str,
    tasks: list[str],
    agent: str = "m",
    slots: int = 1,
    phase: str = "p",
    plan: str | None = None,
    **more: object,
) -> ev.RunStarted:
    """The start of a run of one phase whose tasks, needing nothing, are one agent's (the plan
    `RUN_ID-plan` unless `plan` names it; `more`: the event's other fields)."""
    return ev.RunStarted(
        ts,
        run_id,
        plan if plan is not None else f"{run_id}-plan",
        "x.yaml",
        phases=[{"id": phase, "title": "", "timebox": None}],
        tasks=[{"id": t, "phase": phase, "agent": agent, "needs": []} for t in tasks],
        agents=[{"id": agent, "slots": slots}],
        **more,  # type: ignore[arg-type]
    )


def footer(app: PhasegateApp, width: int) -> str:
    """The footer's keys as a user sees them, whole and inside the screen (the palette's hint
    on the right left out)."""
    keys = app.screen.query_one(Footer).query("FooterKey")
    return " ".join(
        text(k).strip()
        for k in keys
        if k.display and k.region.right <= width and not k.has_class("-command-palette")
    )


async def gate_waiting(db: str, run_id: str, plan: str, now: float) -> str:
    """A live run of two phases, 700 s old: `t` of phase `p` done, its manual gate
    `manual-review-gate` waiting for 600 s, 90 s of phase `q` forecast after it."""
    started = ev.RunStarted(
        now - 700,
        run_id,
        plan,
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}],
        tasks=[
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
            {"id": "u", "phase": "q", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "manual-review-gate", "after": "p", "approval": "manual", "quorum": 1}],
    )
    events = [
        started,
        ev.PhaseStarted(now - 700, "p"),
        ev.TaskStarted(now - 700, "t", 1, "a", 1, 1),
        ev.TaskFinished(now - 650, "t", 1, "succeeded", 0),
        ev.GateOpened(now - 600, "manual-review-gate", 1, [], "ab" * 32, "manual"),
        ev.ForecastUpdated(now - 600, 90.0, 0, {"q": 90.0}),
    ]
    return await live_run(db, run_id, events)
