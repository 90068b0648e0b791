"""The sink: batched, ordered writes; everything written on close; a store error is not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import MemoryStore
from phasegate.engine.store import sink as sink_module
from phasegate.engine.store.base import OutputDrop, OutputLine
from phasegate.engine.store.sink import Sink

from .helpers import T0, line, new_run, ready, started


@dataclass
class Batch:
    events: list[tuple[int, ev.Event]]
    output: list[OutputLine]
    drops: list[OutputDrop]
    summary: dict[str, Any] | None


@dataclass
class FakeStore:
    """Records each write_batch; can hold writes until released, and fail on demand."""

    batches: list[Batch] = field(default_factory=list)
    hold: asyncio.Event | None = None  # while set to an unset Event, writes wait on it
    fail: BaseException | None = None
    active: int = 0
    most_active: int = 0
    calls: int = 0
    called: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def write_batch(
        self,
        run_id: str,
        events: Sequence[tuple[int, ev.Event]],
        output: Sequence[OutputLine] = (),
        drops: Sequence[OutputDrop] = (),
        summary: dict[str, Any] | None = None,
    ) -> None:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            async with self.called:
                self.calls += 1
                self.called.notify_all()
            if self.hold is not None:
                await self.hold.wait()
            await asyncio.sleep(0)  # a real store yields while it writes
            if self.fail is not None:
                raise self.fail
            self.batches.append(Batch(list(events), list(output), list(drops), summary))
        finally:
            self.active -= 1

    async def wait_calls(self, n: int) -> None:
        async with self.called:
            await self.called.wait_for(lambda: self.calls >= n)

    def seqs(self) -> list[int]:
        return [s for b in self.batches for s, _ in b.events]


def _events(first: int, n: int) -> list[tuple[int, ev.Event]]:
    return [(s, ready("a", s)) for s in range(first, first + n)]


async def test_events_written_together_go_in_one_batch() -> None:
    store = FakeStore()
    sink = Sink(store, "r1")  # type: ignore[arg-type]
    for seq, e in _events(1, 100):
        sink.event(seq, e)
    sink.output(line("r1", "a", 1))
    sink.summary(status="running")
    await store.wait_calls(1)
    await sink.close()
    assert len(store.batches) == 1
    (batch,) = store.batches
    assert [s for s, _ in batch.events] == list(range(1, 101))
    assert batch.output == [line("r1", "a", 1)] and batch.summary == {"status": "running"}


async def test_a_full_batch_is_written_without_waiting_for_the_window() -> None:
    store = FakeStore()
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    for seq, e in _events(1, sink_module.MAX_BATCH):
        sink.event(seq, e)
    async with asyncio.timeout(10):  # the window is an hour: only a full batch writes now
        await store.wait_calls(1)
    await sink.close()
    assert store.seqs() == list(range(1, sink_module.MAX_BATCH + 1))


async def test_order_is_kept_across_batches_and_the_last_summary_wins() -> None:
    store = FakeStore(hold=asyncio.Event())
    sink = Sink(store, "r1")  # type: ignore[arg-type]
    for seq, e in _events(1, 3):
        sink.event(seq, e)
    sink.output(line("r1", "a", 1))
    await store.wait_calls(1)  # the first batch is being written (and held)...
    for seq, e in _events(4, 3):  # ...while more comes in
        sink.event(seq, e)
    sink.output(line("r1", "a", 2))
    sink.summary(status="running", counts={"running": 1})
    sink.summary(counts={"running": 2})
    assert store.hold is not None
    store.hold.set()
    await sink.close()

    assert len(store.batches) == 2
    assert store.seqs() == [1, 2, 3, 4, 5, 6]
    assert [o.line for b in store.batches for o in b.output] == [1, 2]
    assert store.batches[1].summary == {"status": "running", "counts": {"running": 2}}


async def test_close_writes_everything_still_collected() -> None:
    store = FakeStore()
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    for seq, e in _events(1, 5):
        sink.event(seq, e)
    sink.output(line("r1", "a", 1))
    sink.drop(OutputDrop("r1", "a", 1, 1))
    sink.summary(status="succeeded")
    await sink.close()  # long before the window ends
    assert store.seqs() == [1, 2, 3, 4, 5]
    assert [d for b in store.batches for d in b.drops] == [OutputDrop("r1", "a", 1, 1)]
    assert store.batches[-1].summary == {"status": "succeeded"}


async def test_close_does_not_wait_out_an_open_window() -> None:
    # regression: close() woke the loop, which then sat out the rest of its batching window
    store = FakeStore()
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    sink.event(1, started("r1"))
    for _ in range(3):  # let the background task start and open its window
        await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await sink.close()
    assert store.seqs() == [1]


async def test_close_writes_a_lone_drop() -> None:
    store = FakeStore()
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    sink.drop(OutputDrop("r1", "a", 1, 5))
    await sink.close()
    assert [b.drops for b in store.batches] == [[OutputDrop("r1", "a", 1, 5)]]


async def test_flush_returns_after_everything_so_far_is_written() -> None:
    store = FakeStore()
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    for seq, e in _events(1, 3):
        sink.event(seq, e)
    await sink.flush()
    assert store.seqs() == [1, 2, 3]
    await sink.close()


async def test_a_store_error_in_the_background_surfaces_on_the_next_write() -> None:
    store = FakeStore(fail=StoreError("database x: disk is full"))
    sink = Sink(store, "r1")  # type: ignore[arg-type]
    sink.event(1, started("r1"))
    await store.wait_calls(1)
    # the background write fails; the next write says so
    async with asyncio.timeout(10):
        while sink.error is None:
            await asyncio.sleep(0)
    with pytest.raises(StoreError, match="disk is full"):
        sink.event(2, ready("a", 2))
    with pytest.raises(StoreError, match="disk is full"):
        sink.summary(status="failed")
    with pytest.raises(StoreError, match="disk is full"):
        await sink.flush()
    with pytest.raises(StoreError, match="disk is full"):
        await sink.close()
    assert store.batches == []


async def test_a_store_error_in_flush_is_kept_for_later_writes() -> None:
    # regression: flush() lost its batch with the failed transaction but did not keep the
    # error, so the run went on writing events after a hole
    store = FakeStore()
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    sink.event(1, started("r1"))
    store.fail = StoreError("database x: disk is full")
    with pytest.raises(StoreError):
        await sink.flush()
    store.fail = None
    with pytest.raises(StoreError):
        sink.event(2, ready("a", 2))
    with pytest.raises(StoreError):
        await sink.close()
    assert store.batches == []


async def test_concurrent_flushes_do_not_interleave_transactions() -> None:
    store = FakeStore(hold=asyncio.Event())
    sink = Sink(store, "r1")  # type: ignore[arg-type]
    for seq, e in _events(1, 3):
        sink.event(seq, e)
    first = asyncio.ensure_future(sink.flush())
    await store.wait_calls(1)
    for seq, e in _events(4, 3):
        sink.event(seq, e)
    others = [asyncio.ensure_future(sink.flush()) for _ in range(3)]
    for seq, e in _events(7, 3):
        sink.event(seq, e)
    assert store.hold is not None
    store.hold.set()
    await asyncio.gather(first, *others)
    await sink.close()
    assert store.most_active == 1
    assert store.seqs() == list(range(1, 10))


async def test_a_sink_on_a_real_store_writes_what_it_was_given() -> None:
    store = MemoryStore()
    await new_run(store, "r1")
    sink = Sink(store, "r1")
    written = [(1, started("r1")), *_events(2, 50)]
    for seq, e in written:
        sink.event(seq, e)
        sink.output(line("r1", "a", seq, ts=T0 + seq))
    sink.summary(status="running")
    await sink.close()
    assert await store.read_events("r1") == written
    assert len(await store.read_output("r1", "a")) == 51
    row = await store.get_run("r1")
    assert row is not None and row.status == "running"


async def test_after_a_failed_write_its_owner_is_told_once_and_emitting_does_not_raise() -> None:
    """A timer of the run (the forecast) emitted between the failed write and the owner being
    told: the event raised the store's error inside that timer, and the run ended with a
    traceback on its stderr (a full disk, with batches written on the loop's thread)."""
    store = FakeStore(fail=StoreError("database x: database or disk is full"))
    told: list[BaseException] = []
    sink = Sink(store, "r1", window=3600, on_error=told.append)  # type: ignore[arg-type]
    sink.event(1, ready("a", 1))
    with pytest.raises(StoreError):
        await sink.flush()
    assert told == []  # (told on the loop's next turn)
    sink.event(2, ready("a", 2))  # what a timer emits meanwhile: dropped, not raised
    sink.summary(heartbeat_at=T0)
    await asyncio.sleep(0)
    assert [str(e) for e in told] == ["database x: database or disk is full"]
    with pytest.raises(StoreError):
        await sink.close()
    assert store.batches == []


async def test_without_an_owner_to_tell_the_next_write_raises_the_error() -> None:
    store = FakeStore(fail=StoreError("database x: read-only"))
    sink = Sink(store, "r1", window=3600)  # type: ignore[arg-type]
    sink.event(1, ready("a", 1))
    with pytest.raises(StoreError):
        await sink.flush()
    with pytest.raises(StoreError, match="read-only"):
        sink.event(2, ready("a", 2))
