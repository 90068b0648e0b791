"""Batched writes: events and output lines go to the store in one transaction every few ms.

A database that another process keeps locked does not stop the run: what is collected stays
in memory (up to MAX_HELD rows, with a warning on the engine's log) and is written, in order,
once the lock goes."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from phasegate.engine.model.errors import StoreBusy
from phasegate.engine.model.events import Event
from phasegate.engine.store.base import OutputDrop, OutputLine, Store

WINDOW = 0.02  # seconds a batch stays open (fewer, larger transactions; no eye sees 20 ms)
MAX_BATCH = 2000  # rows that force a write at once
MAX_HELD = 2_000_000  # rows kept in memory while the database is locked, before giving up
RETRY_MAX = 2.0  # seconds between two tries of a locked database, at the most


class Sink:
    """Collects writes and flushes them in the background; a write error stops the run loudly."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        window: float = WINDOW,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """`on_error` is called (soon, on the loop) when a write fails, so that the run stops
        at once instead of when it next writes."""
        self._on_error = on_error
        self._store = store
        self._run_id = run_id
        self._window = window
        self._events: list[tuple[int, Event]] = []
        self._output: list[OutputLine] = []
        self._drops: list[OutputDrop] = []
        self._summary: dict[str, Any] = {}
        self._snapshot: tuple[int, str, bytes] | None = None
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._lock = asyncio.Lock()
        self.error: BaseException | None = None
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def event(self, seq: int, event: Event) -> None:
        self._events.append((seq, event))
        self._poke()

    def output(self, line: OutputLine) -> None:
        self._output.append(line)
        self._poke()

    def drop(self, drop: OutputDrop) -> None:
        self._drops.append(drop)
        self._poke()

    def snapshot(self, seq: int, fmt: str, data: bytes) -> None:
        """Keep the fold up to `seq` (written after the batch holding event `seq`)."""
        self._snapshot = (seq, fmt, data)
        self._poke()

    def summary(self, **fields: Any) -> None:
        self._summary.update(fields)
        self._poke()

    def _poke(self) -> None:
        if self.error is not None:
            if self._on_error is not None:
                # its owner is told (soon) and stops the run; what comes meanwhile cannot follow
                # the lost batch, and raising here would only break whoever emitted it (a timer
                # that ran between the failed write and the telling printed a traceback)
                return
            raise self.error
        self._wake.set()
        if len(self._events) + len(self._output) >= MAX_BATCH:
            self._full.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closing and not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._window)
            self._wake.clear()
            self._full.clear()
            try:
                await self._write()
            except Exception:  # kept in self.error by _write: raised on the next write
                return
            if self._closing and not self._pending():
                return

    def _pending(self) -> bool:
        return bool(self._events or self._output or self._drops or self._summary or self._snapshot)

    async def _write(self) -> None:
        # the lock keeps batches whole and in order: a flush() while the loop is writing waits
        # for that transaction instead of starting a second one beside it
        async with self._lock:
            if self.error is not None:
                raise self.error
            try:
                await self._write_patiently()
            except Exception as exc:
                # the batch is gone with the failed transaction; every later write must fail too,
                # or the run would go on with a hole in its events
                self.error = exc
                if self._on_error is not None:
                    asyncio.get_running_loop().call_soon(self._on_error, exc)
                raise

    async def _write_patiently(self) -> None:
        """Write what is pending; while another process holds the database's lock, keep it and
        try again (backing off), unless more than MAX_HELD rows pile up."""
        delay, warned = 0.05, False
        while True:
            try:
                await self._write_locked()
            except StoreBusy as exc:
                held = len(self._events) + len(self._output)
                if held > MAX_HELD:
                    raise
                if not warned:
                    warned = True
                    print(
                        f"phasegate: warning: {exc}; {held} rows kept in memory until it is "
                        "free (the run goes on)",
                        file=sys.stderr,
                        flush=True,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if warned:
                print("phasegate: the database is free again; nothing was lost", file=sys.stderr)
            return

    async def _write_locked(self) -> None:
        while self._pending():
            events, self._events = self._events, []
            output, self._output = self._output, []
            drops, self._drops = self._drops, []
            summary, self._summary = self._summary, {}
            snapshot, self._snapshot = self._snapshot, None
            try:
                await self._store.write_batch(self._run_id, events, output, drops, summary or None)
            except StoreBusy:  # nothing was written: all of it goes back, before what came since
                self._events[:0], self._output[:0], self._drops[:0] = events, output, drops
                self._summary = {**summary, **self._summary}
                self._snapshot = self._snapshot or snapshot
                raise
            if snapshot is not None:
                try:
                    await self._store.save_snapshot(self._run_id, *snapshot)
                except StoreBusy:
                    self._snapshot = self._snapshot or snapshot
                    raise

    async def flush(self) -> None:
        """Write everything collected so far before returning."""
        await self._write()

    async def close(self) -> None:
        """Write everything still collected and stop; raises the store's error if a write failed."""
        self._closing = True
        self._wake.set()
        self._full.set()  # cut short a window that is open: nothing more is coming
        await self._task
        if self.error is not None:
            raise self.error
        await self._write()


class FailedSink(Sink):
    """Stands in for a sink whose store failed: later writes are dropped (they cannot follow the
    lost batch), and close() raises the store's error, so the run ends saying why."""

    def __init__(self, error: BaseException) -> None:  # no store, no writer task
        self.error = self._cause = error

    def event(self, seq: int, event: Event) -> None:
        pass

    def output(self, line: OutputLine) -> None:
        pass

    def drop(self, drop: OutputDrop) -> None:
        pass

    def snapshot(self, seq: int, fmt: str, data: bytes) -> None:
        pass

    def summary(self, **fields: Any) -> None:
        pass

    async def flush(self) -> None:
        raise self._cause

    async def close(self) -> None:
        raise self._cause
