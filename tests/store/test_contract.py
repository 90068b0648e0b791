"""The store contract: every store (SQLite in a file, in memory) behaves the same way."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import EngineBusy, RunNotFound, StoreError, UsageError
from phasegate.engine.store import MemoryStore, Store
from phasegate.engine.store.base import OutputDrop, OutputLine, resolve_run

from .helpers import T0, line, new_run, ready, run_row, started

# -- runs -------------------------------------------------------------------------------------


async def test_runs_are_listed_newest_first_and_read_back_whole(store: Store) -> None:
    await new_run(store, "r1", T0)
    await new_run(store, "r2", T0 + 20)
    await new_run(store, "r3", T0 + 10)

    assert [r.id for r in await store.list_runs()] == ["r2", "r3", "r1"]
    assert [r.id for r in await store.list_runs(limit=2)] == ["r2", "r3"]
    assert await store.run_ids() == ["r2", "r3", "r1"]
    assert await store.get_run("r3") == run_row("r3", T0 + 10)
    assert await store.get_run("nope") is None


async def test_runs_created_in_the_same_instant_list_the_later_one_first(store: Store) -> None:
    for run_id in ("first", "second", "third"):
        await new_run(store, run_id, T0)
    assert await store.run_ids() == ["third", "second", "first"]


async def test_a_run_id_is_used_once(store: Store) -> None:
    await new_run(store, "r1")
    with pytest.raises(StoreError):
        await new_run(store, "r1")


async def test_the_stored_run_row_is_a_copy(store: Store) -> None:
    row = msgspec.structs.replace(run_row("r1"), counts={"pending": 2})
    await store.create_run(row)
    row.counts["pending"] = 99
    stored = await store.get_run("r1")
    assert stored is not None and stored.counts == {"pending": 2}


# -- resolve_run ------------------------------------------------------------------------------


async def test_resolve_run_by_id_prefix_and_last(store: Store) -> None:
    await new_run(store, "abc123", T0)
    await new_run(store, "abd456", T0 + 1)
    await new_run(store, "f00d00", T0 + 2)

    assert (await resolve_run(store, "abc123")).id == "abc123"
    assert (await resolve_run(store, "abd")).id == "abd456"
    assert (await resolve_run(store, "f")).id == "f00d00"
    assert (await resolve_run(store, "last")).id == "f00d00"
    assert (await resolve_run(store, "latest")).id == "f00d00"


async def test_resolve_run_prefers_an_exact_id_over_a_longer_one_it_prefixes(store: Store) -> None:
    await new_run(store, "abc", T0)
    await new_run(store, "abcd", T0 + 1)
    assert (await resolve_run(store, "abc")).id == "abc"


async def test_an_ambiguous_prefix_names_the_matches_and_asks_for_more(store: Store) -> None:
    await new_run(store, "abc123", T0)
    await new_run(store, "abd456", T0 + 1)
    with pytest.raises(RunNotFound) as info:
        await resolve_run(store, "ab")
    message = str(info.value)
    assert "2 runs" in message and "abc123" in message and "abd456" in message
    assert "give more of the id" in message


async def test_an_unknown_run_says_what_to_give_instead(store: Store) -> None:
    await new_run(store, "abc123")
    with pytest.raises(RunNotFound) as info:
        await resolve_run(store, "zzz")
    message = str(info.value)
    assert "'zzz'" in message and "`last`" in message and "phasegate runs" in message
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


async def test_resolving_in_an_empty_store_says_there_are_no_runs(store: Store) -> None:
    with pytest.raises(RunNotFound, match="no runs yet"):
        await resolve_run(store, "last")


async def test_an_empty_reference_names_no_run(store: Store) -> None:
    # regression: "" is a prefix of every id, so it resolved to the only run there was
    await new_run(store, "abc123")
    with pytest.raises(RunNotFound, match="no run given"):
        await resolve_run(store, "")


# -- events -----------------------------------------------------------------------------------


async def test_events_read_back_in_seq_order_equal_to_what_was_written(store: Store) -> None:
    await new_run(store, "r1")
    first = [(1, started("r1")), (3, ready("b", 3)), (2, ready("a", 2))]
    await store.write_batch("r1", first)
    await store.write_batch("r1", [(4, ev.RunFinished(T0 + 4, "succeeded", "done"))])

    got = await store.read_events("r1")
    assert [s for s, _ in got] == [1, 2, 3, 4]
    assert [e for _, e in got] == [
        started("r1"),
        ready("a", 2),
        ready("b", 3),
        ev.RunFinished(T0 + 4, "succeeded", "done"),
    ]
    assert await store.read_events("r1", after_seq=2) == got[2:]
    assert await store.read_events("r1", after_seq=4) == []
    assert await store.read_events("other") == []
    assert await store.last_event("r1") == (4, T0 + 4)  # (the highest seq, not the last put)
    assert await store.last_event("other") is None


async def test_every_event_type_survives_a_round_trip(store: Store) -> None:
    await new_run(store, "r1")
    written: list[ev.Event] = [
        started("r1"),
        ev.AgentProbed(T0, "a1", False, "probe: exit 1"),
        ev.CheckFinished(T0, "plan", "git on PATH", True, "/usr/bin/git"),
        ev.PhaseStarted(T0, "p"),
        ev.TaskReady(T0, "a"),
        ev.TaskStarted(T0 + 0.25, "a", 1, "a1", 4242, 4242, "make 'x y'"),
        ev.TaskFinished(T0 + 1, "a", 1, "failed", -9, lines=10, dropped=2, reason="killed"),
        ev.TaskRetrying(T0 + 1, "a", 2, 0.5, "exit -9"),
        ev.TaskFinished(T0 + 2, "a", 2, "timed_out", None),
        ev.TaskBlocked(T0 + 2, "b", "dependency a timed_out"),
        ev.TaskSkipped(T0 + 2, "b", "not needed", by="bob"),
        ev.PhaseFinished(T0 + 3, "p", "failed"),
        ev.RunFinished(T0 + 3, "failed", "task a timed_out"),
    ]
    await store.write_batch("r1", list(enumerate(written, 1)))
    assert [e for _, e in await store.read_events("r1")] == written


async def test_strange_text_in_events_survives(store: Store) -> None:
    # regression: a lone surrogate (an undecodable byte from os.environ, say) reached SQLite as
    # text it cannot encode, and the batch failed with UnicodeEncodeError
    await new_run(store, "r1")
    reasons = [
        "caf\u00e9 \u2713 \U0001f600",
        "\x1b[31mred\x1b[0m [bold]x[/bold]",
        "nul\x00",
        "\udcff",
    ]
    written = [(i, ev.TaskBlocked(T0, "a", r)) for i, r in enumerate(reasons, 1)]
    await store.write_batch("r1", written)
    assert await store.read_events("r1") == written


async def test_a_duplicate_seq_is_refused_and_the_batch_leaves_nothing(store: Store) -> None:
    await new_run(store, "r1")
    await store.write_batch("r1", [(1, started("r1"))], [line("r1", "a", 1)])
    before_tail = await store.tail(0)

    with pytest.raises(StoreError):  # clashes with a stored event
        await store.write_batch(
            "r1",
            [(2, ready("a", 2)), (1, ready("b", 1))],
            output=[line("r1", "a", 2)],
            summary={"status": "running"},
        )
    with pytest.raises(StoreError):  # clashes within the batch
        await store.write_batch(
            "r1", [(2, ready("a", 2)), (2, ready("b", 2))], output=[line("r1", "a", 2)]
        )

    assert await store.read_events("r1") == [(1, started("r1"))]
    assert await store.tail(0) == before_tail
    assert [o.line for o in await store.read_output("r1")] == [1]
    row = await store.get_run("r1")
    assert row is not None and row.status == "pending"
    # the same seq numbers are still free for a good batch
    await store.write_batch("r1", [(2, ready("a", 2))], [line("r1", "a", 2)])
    assert [s for s, _ in await store.read_events("r1")] == [1, 2]


async def test_seq_numbers_are_per_run(store: Store) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    await store.write_batch("r1", [(1, started("r1"))])
    await store.write_batch("r2", [(1, started("r2"))])
    assert [e for _, e in await store.read_events("r2")] == [started("r2")]


async def test_a_batch_for_an_unknown_run_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        await store.write_batch("ghost", [(1, started("ghost"))])
    assert await store.tail(0) == []


async def test_an_unknown_summary_field_is_refused_before_anything_is_written(
    store: Store,
) -> None:
    await new_run(store, "r1")
    with pytest.raises(ValueError, match="not run summary fields"):
        await store.write_batch("r1", [(1, started("r1"))], summary={"plan_name": "x"})
    assert await store.read_events("r1") == []


async def test_tail_follows_every_run_by_one_global_cursor(store: Store) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    await store.write_batch("r1", [(1, started("r1")), (2, ready("a", 2))])
    await store.write_batch("r2", [(1, started("r2"))])
    await store.write_batch("r1", [(3, ready("b", 3))])

    rows = await store.tail(0)
    assert [(run, seq) for _, run, seq, _ in rows] == [("r1", 1), ("r1", 2), ("r2", 1), ("r1", 3)]
    cursors = [c for c, *_ in rows]
    assert cursors == sorted(set(cursors))
    assert rows[3][3] == ready("b", 3)

    assert await store.tail(cursors[1]) == rows[2:]
    assert await store.tail(cursors[0], limit=2) == rows[1:3]
    assert await store.tail(cursors[-1]) == []
    await store.write_batch("r2", [(2, ready("a", 9))])
    newer = await store.tail(cursors[-1])
    assert [(run, seq) for _, run, seq, _ in newer] == [("r2", 2)]
    assert newer[0][0] > cursors[-1]


async def test_unknown_event_types_from_a_newer_version_survive_a_round_trip(
    store: Store,
) -> None:
    # regression: an UnknownEvent written back (an export, a fixture, a copy) lost its type
    # name, version and data, because it wrote the empty type and fields of its class
    await new_run(store, "r1")
    future = ev.from_record("gate.quorum_met", T0 + 1, 3, {"gate": "g", "approvers": ["a", "b"]})
    assert isinstance(future, ev.UnknownEvent)
    await store.write_batch("r1", [(1, started("r1")), (2, future)])

    (_, back), *_ = await store.read_events("r1", after_seq=1)
    assert back == future
    assert back.record() == ("gate.quorum_met", 3, '{"gate":"g","approvers":["a","b"]}')

    copy = MemoryStore()
    await new_run(copy, "r1")
    await copy.write_batch("r1", await store.read_events("r1"))
    assert await copy.read_events("r1") == await store.read_events("r1")


# -- output -----------------------------------------------------------------------------------


async def test_output_lines_read_back_per_task_attempt_and_in_time_order(store: Store) -> None:
    await new_run(store, "r1")
    a1 = [line("r1", "a", n, ts=T0 + 2 * n) for n in (1, 2, 3)]
    b1 = [line("r1", "b", n, ts=T0 + 2 * n + 1) for n in (1, 2)]
    a2 = [line("r1", "a", n, attempt=2, ts=T0 + 10 + n) for n in (1, 2)]
    await store.write_batch("r1", [], output=a1[:2] + b1)
    await store.write_batch("r1", [], output=[a1[2], *a2])

    assert await store.read_output("r1", "a") == a1 + a2
    assert await store.read_output("r1", "a", attempt=2) == a2
    assert await store.read_output("r1", "a", attempt=1, after_line=1) == a1[1:]
    assert await store.read_output("r1", "b") == b1
    everything = await store.read_output("r1")
    assert everything == sorted(a1 + a2 + b1, key=lambda o: o.ts)
    assert await store.read_output("other") == []


async def test_output_text_survives_as_it_was(store: Store) -> None:
    await new_run(store, "r1")
    texts = [
        "",
        "  indented",
        "caf\u00e9 \U0001f600",
        "\x1b[1mbold\x1b[0m",
        "nul\x00byte",
        "x" * 100_000,
    ]
    lines = [OutputLine("r1", "a", 1, n, "out", t, T0) for n, t in enumerate(texts, 1)]
    await store.write_batch("r1", [], output=lines)
    assert [o.text for o in await store.read_output("r1", "a")] == texts


async def test_tail_output_follows_lines_in_write_order_by_a_cursor(store: Store) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    await store.write_batch("r1", [], output=[line("r1", "a", 1), line("r1", "b", 1)])
    await store.write_batch("r2", [], output=[line("r2", "a", 1)])
    await store.write_batch("r1", [], output=[line("r1", "a", 2)])

    rows = await store.tail_output("r1", 0)
    assert [o for _, o in rows] == [line("r1", "a", 1), line("r1", "b", 1), line("r1", "a", 2)]
    cursors = [c for c, _ in rows]
    assert cursors == sorted(set(cursors))
    assert await store.tail_output("r1", cursors[0]) == rows[1:]
    assert await store.tail_output("r1", 0, task="a") == [rows[0], rows[2]]
    assert await store.tail_output("r1", 0, limit=1) == rows[:1]
    assert await store.tail_output("r1", cursors[-1]) == []


async def test_an_output_drop_keeps_the_tail(store: Store) -> None:
    await new_run(store, "r1")
    a = [line("r1", "a", n) for n in range(1, 11)]
    b = [line("r1", "b", n) for n in range(1, 4)]
    await store.write_batch("r1", [], output=a[:6] + b)
    # the drop may come in the same batch as more lines of the attempt
    await store.write_batch("r1", [], output=a[6:], drops=[OutputDrop("r1", "a", 1, 8)])

    assert await store.read_output("r1", "a") == a[7:]
    assert await store.read_output("r1", "b") == b  # other tasks keep everything
    assert [o for _, o in await store.tail_output("r1", 0, task="a")] == a[7:]


async def test_a_drop_touches_only_its_own_attempt(store: Store) -> None:
    await new_run(store, "r1")
    first = [line("r1", "a", n, attempt=1) for n in (1, 2, 3)]
    second = [line("r1", "a", n, attempt=2) for n in (1, 2, 3)]
    await store.write_batch("r1", [], output=first + second)
    await store.write_batch("r1", [], drops=[OutputDrop("r1", "a", 2, 3)])
    assert await store.read_output("r1", "a") == [*first, second[2]]


async def test_output_cursors_never_go_back_after_the_newest_line_is_dropped(
    store: Store,
) -> None:
    # regression: a line larger than the whole cap drops every line of its attempt, the newest
    # line of the database among them; SQLite then gave that line's rowid to the next line, and
    # a client tailing from that cursor never saw the new line (the memory store reused a cursor
    # in the same way when a dropped line was written again)
    await new_run(store, "r1")
    await store.write_batch("r1", [], output=[line("r1", "a", 1), line("r1", "a", 2)])
    seen = await store.tail_output("r1", 0)
    cursor = seen[-1][0]
    await store.write_batch("r1", [], drops=[OutputDrop("r1", "a", 1, 3)])
    assert await store.read_output("r1") == []

    await store.write_batch("r1", [], output=[line("r1", "b", 1)])
    await store.write_batch("r1", [], output=[line("r1", "a", 1)])  # a dropped line, again
    await store.write_batch("r1", [], output=[line("r1", "b", 2)])
    fresh = await store.tail_output("r1", cursor)
    assert [o for _, o in fresh] == [line("r1", "b", 1), line("r1", "a", 1), line("r1", "b", 2)]
    cursors = [c for c, _ in fresh]
    assert cursors == sorted(set(cursors)) and cursors[0] > cursor


async def test_an_output_line_is_written_once(store: Store) -> None:
    await new_run(store, "r1")
    await store.write_batch("r1", [], output=[line("r1", "a", 1)])
    with pytest.raises(StoreError):
        await store.write_batch("r1", [(1, started("r1"))], output=[line("r1", "a", 1)])
    with pytest.raises(StoreError):
        await store.write_batch("r1", [(1, started("r1"))], [line("r1", "a", 2)] * 2)
    assert await store.read_events("r1") == []
    assert await store.read_output("r1") == [line("r1", "a", 1)]


# -- run summary ------------------------------------------------------------------------------


async def test_the_run_summary_follows_the_batches(store: Store) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    await store.write_batch(
        "r1",
        [(1, started("r1"))],
        summary={"status": "running", "started_at": T0 + 1, "counts": {"pending": 2}},
    )
    row = await store.get_run("r1")
    assert row is not None
    assert (row.status, row.started_at, row.finished_at) == ("running", T0 + 1, None)
    assert row.counts == {"pending": 2}
    assert row.duration == 0.0

    await store.write_batch("r1", [], summary={"heartbeat_at": T0 + 5})
    row = await store.get_run("r1")
    assert row is not None and row.status == "running" and row.duration == 4.0

    await store.write_batch(
        "r1",
        [(2, ev.RunFinished(T0 + 9, "succeeded"))],
        summary={"status": "succeeded", "finished_at": T0 + 9, "counts": {"succeeded": 2}},
    )
    (listed, other) = await store.list_runs()
    assert listed.id == "r1" or other.id == "r1"
    row = await store.get_run("r1")
    assert row is not None
    assert (row.status, row.finished_at, row.counts, row.duration) == (
        "succeeded",
        T0 + 9,
        {"succeeded": 2},
        8.0,
    )
    assert row.plan_name == "plan" and row.user == "alice"  # untouched
    assert await store.get_run("r2") == run_row("r2")  # other runs untouched


async def test_the_summary_keeps_a_copy_of_the_counts(store: Store) -> None:
    await new_run(store, "r1")
    counts = {"running": 1}
    await store.write_batch("r1", [], summary={"counts": counts})
    counts["running"] = 5
    row = await store.get_run("r1")
    assert row is not None and row.counts == {"running": 1}


# -- leases -----------------------------------------------------------------------------------


def _alive(*pids: int) -> object:
    def alive(pid: int, started: float) -> bool:
        return pid in pids

    return alive


async def test_a_second_live_engine_is_refused(store: Store) -> None:
    await new_run(store, "r1")
    await store.acquire_lease("r1", 111, 50.0, T0, _alive(111, 222))  # type: ignore[arg-type]
    with pytest.raises(EngineBusy) as info:
        await store.acquire_lease("r1", 222, 60.0, T0 + 1, _alive(111, 222))  # type: ignore[arg-type]
    assert "pid 111" in str(info.value) and "attach" in str(info.value)
    row = await store.get_run("r1")
    assert row is not None
    assert (row.engine_pid, row.engine_started, row.heartbeat_at) == (111, 50.0, T0)


async def test_the_lease_of_a_dead_engine_is_taken_over(store: Store) -> None:
    await new_run(store, "r1")
    await store.acquire_lease("r1", 111, 50.0, T0, _alive(111))  # type: ignore[arg-type]
    await store.acquire_lease("r1", 222, 60.0, T0 + 1, _alive(222))  # type: ignore[arg-type]
    row = await store.get_run("r1")
    assert row is not None and (row.engine_pid, row.engine_started) == (222, 60.0)


async def test_the_liveness_check_gets_the_holders_pid_and_start_time(store: Store) -> None:
    await new_run(store, "r1")
    asked: list[tuple[int, float]] = []

    def alive(pid: int, started: float) -> bool:
        asked.append((pid, started))
        return False

    await store.acquire_lease("r1", 111, 50.0, T0, alive)
    await store.acquire_lease("r1", 222, 60.0, T0, alive)
    assert asked == [(111, 50.0)]


async def test_the_same_engine_may_take_its_lease_again(store: Store) -> None:
    await new_run(store, "r1")
    await store.acquire_lease("r1", 111, 50.0, T0, _alive(111))  # type: ignore[arg-type]
    await store.acquire_lease("r1", 111, 50.0, T0 + 3, _alive(111))  # type: ignore[arg-type]
    row = await store.get_run("r1")
    assert row is not None and row.heartbeat_at == T0 + 3


async def test_release_frees_the_run_only_for_the_holder(store: Store) -> None:
    await new_run(store, "r1")
    everyone = _alive(111, 222)
    await store.acquire_lease("r1", 111, 50.0, T0, everyone)  # type: ignore[arg-type]
    await store.release_lease("r1", 222)  # not the holder: nothing happens
    with pytest.raises(EngineBusy):
        await store.acquire_lease("r1", 222, 60.0, T0, everyone)  # type: ignore[arg-type]
    await store.release_lease("r1", 111)
    row = await store.get_run("r1")
    assert row is not None and row.engine_pid is None
    await store.acquire_lease("r1", 222, 60.0, T0, everyone)  # type: ignore[arg-type]
    row = await store.get_run("r1")
    assert row is not None and row.engine_pid == 222


async def test_a_lease_on_an_unknown_run_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        await store.acquire_lease("ghost", 111, 50.0, T0, _alive())  # type: ignore[arg-type]
    await store.release_lease("ghost", 111)  # releasing nothing is fine


# -- one store, many coroutines ---------------------------------------------------------------


async def test_concurrent_calls_on_one_store_do_not_share_a_transaction(store: Store) -> None:
    # regression: the SQLite store has one connection; a second coroutine's BEGIN failed
    # inside the first one's transaction ("cannot start a transaction within a transaction")
    await new_run(store, "r1")
    await store.write_batch("r1", [(1, started("r1"))])

    async def writer(base: int) -> None:
        for i in range(10):
            seq = base + i
            await store.write_batch(
                "r1", [(seq, ready("a", seq))], [line("r1", "w", seq)], summary={"status": "x"}
            )

    async def commander() -> list[int]:
        got = []
        for i in range(10):
            await store.save_snapshot("r1", i + 1, "f", b"x")
            found = await store.latest_snapshot("r1", "f")
            got += [found[0]] if found else []
        return got

    async def reader() -> None:
        for _ in range(10):
            await store.tail(0)
            await store.read_events("r1")
            await store.tail_output("r1", 0)

    results = await asyncio.gather(writer(100), writer(200), commander(), reader())
    assert len(results[2]) == 10
    assert len(await store.read_events("r1")) == 21
    assert len(await store.read_output("r1")) == 20


async def test_output_activity_names_the_tasks_that_wrote_and_when(store: Store) -> None:
    from phasegate.engine.store.base import OutputLine, RunRow

    await store.create_run(RunRow("r1", "p", "p.yaml", "running", 1.0))
    await store.write_batch(
        "r1",
        [],
        [
            OutputLine("r1", "a", 1, 1, "out", "x", 10.0),
            OutputLine("r1", "b", 1, 1, "out", "y", 11.0),
            OutputLine("r1", "a", 1, 2, "err", "z", 12.0),
        ],
    )
    cursor, last = await store.output_activity("r1", 0)
    assert last == {"a": (12.0, "z"), "b": (11.0, "y")}  # when, and the newest line
    await store.write_batch("r1", [], [OutputLine("r1", "b", 1, 2, "out", "w", 13.0)])
    cursor2, last2 = await store.output_activity("r1", cursor)
    assert last2 == {"b": (13.0, "w")} and cursor2 > cursor
    assert await store.output_activity("r1", cursor2) == (cursor2, {})


async def test_tail_task_output_reads_one_tasks_lines_after_a_position(store: Store) -> None:
    from phasegate.engine.store.base import OutputLine, RunRow

    await store.create_run(RunRow("r1", "p", "p.yaml", "running", 1.0))
    lines = [
        OutputLine("r1", "a", 1, 1, "out", "a1.1", 1.0),
        OutputLine("r1", "b", 1, 1, "out", "b1.1", 1.0),
        OutputLine("r1", "a", 1, 2, "out", "a1.2", 2.0),
        OutputLine("r1", "a", 2, 1, "err", "a2.1", 3.0),
    ]
    await store.write_batch("r1", [], lines)
    got = await store.tail_task_output("r1", "a")
    assert [o.text for o in got] == ["a1.1", "a1.2", "a2.1"]
    assert [o.text for o in await store.tail_task_output("r1", "a", (1, 2))] == ["a2.1"]
    assert await store.tail_task_output("r1", "a", (2, 1)) == []
    assert [o.text for o in await store.tail_task_output("r1", "a", limit=1)] == ["a1.1"]


async def test_last_task_output_reads_one_tasks_newest_lines_and_counts_the_earlier(
    store: Store,
) -> None:
    """The output pane starts at a task's tail (it held the first lines of a 20,000-line task as
    if they were its end): the newest lines in order, across attempts, and how many come before."""
    from phasegate.engine.store.base import OutputLine, RunRow

    await store.create_run(RunRow("r1", "p", "p.yaml", "running", 1.0))
    lines = [
        OutputLine("r1", "a", 1, 1, "out", "a1.1", 1.0),
        OutputLine("r1", "b", 1, 1, "out", "b1.1", 1.0),
        OutputLine("r1", "a", 1, 2, "out", "a1.2", 2.0),
        OutputLine("r1", "a", 2, 1, "err", "a2.1", 3.0),
        OutputLine("r1", "a", 2, 2, "out", "a2.2", 4.0),
    ]
    await store.write_batch("r1", [], lines)
    assert [o.text for o in await store.last_task_output("r1", "a", 3)] == ["a1.2", "a2.1", "a2.2"]
    assert [o.text for o in await store.last_task_output("r1", "a", 9)] == [
        "a1.1",
        "a1.2",
        "a2.1",
        "a2.2",
    ]
    assert await store.last_task_output("r1", "a", 0) == []
    assert await store.last_task_output("r1", "c", 3) == []
    assert await store.count_task_output("r1", "a", (1, 2)) == 1
    assert await store.count_task_output("r1", "a", (2, 1)) == 2
    assert await store.count_task_output("r1", "a", (1, 1)) == 0
    assert await store.count_task_output("r1", "b", (9, 9)) == 1
