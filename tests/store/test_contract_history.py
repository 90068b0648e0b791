"""The store contract, continued: what durable runs and the history need from every store
(the plan a run started with, snapshots of its fold, recent events by type, task durations)."""

from __future__ import annotations

import pytest

from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import Store

from .helpers import T0, new_run, ready, started


async def test_the_plan_text_and_variables_of_a_run_read_back_as_given(store: Store) -> None:
    await new_run(store, "r1")
    assert await store.load_plan("r1") is None
    text = "name: x\n# ünïcode \x1b[31m {branch}\n"
    await store.save_plan("r1", text, {"branch": "main"})
    assert await store.load_plan("r1") == (text, {"branch": "main"})
    with pytest.raises(StoreError):
        await store.save_plan("nope", text, {})


async def test_the_newest_snapshot_of_a_format_is_read_back(store: Store) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    assert await store.latest_snapshot("r1", "f1") is None
    await store.save_snapshot("r1", 10, "f1", b"\x00ten")
    await store.save_snapshot("r1", 20, "f1", b"twenty")
    await store.save_snapshot("r2", 5, "f1", b"other run")
    assert await store.latest_snapshot("r1", "f1") == (20, b"twenty")
    assert await store.latest_snapshot("r2", "f1") == (5, b"other run")
    # a snapshot written by another version of the fold is not used
    assert await store.latest_snapshot("r1", "f2") is None
    with pytest.raises(StoreError):
        await store.save_snapshot("nope", 1, "f1", b"")


async def test_recent_events_of_some_types_newest_first(store: Store) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    written = [(1, started("r1")), (2, ready("a", 2)), (3, ready("b", 3)), (4, ready("c", 4))]
    await store.write_batch("r1", written)
    await store.write_batch("r2", [(1, started("r2")), (2, ready("a", 2))])
    assert await store.recent_events("r1", ["task.ready"], 3, 10) == [written[2], written[1]]
    assert await store.recent_events("r1", ["task.ready", "run.started"], 9, 2) == [
        written[3],
        written[2],
    ]
    assert await store.recent_events("r1", ["run.finished"], 9, 10) == []


async def test_task_durations_of_the_newest_runs_of_a_plan(store: Store) -> None:
    for i in range(4):
        await store.record_durations("p", f"r{i}", T0 + i, {"a": 1.0 + i, "b": 10.0})
    await store.record_durations("other", "x", T0, {"a": 99.0})
    found = await store.durations("p", runs=3)
    assert sorted(found["a"]) == [2.0, 3.0, 4.0] and found["b"] == [10.0] * 3
    assert await store.durations("nope") == {}
    # as a run that started at T0 + 2 saw its history: the runs recorded before it only
    earlier = await store.durations("p", runs=3, before=T0 + 2)
    assert sorted(earlier["a"]) == [1.0, 2.0]


async def test_a_search_term_with_punctuation_is_a_phrase(store: Store) -> None:
    # (`search change-2` found every entry with a `2` in it: its words were ORed)
    from phasegate.engine.store.base import Knowledge

    await new_run(store, "r1")
    await store.remember(
        "r1",
        "plan",
        [
            Knowledge("note", T0, "change-2", "change 2 moved the deploy"),
            Knowledge("lesson", T0 + 1, "build", "succeeded after 2 attempts"),
            Knowledge("lesson", T0 + 2, "flaky", "flaky test in the cache"),
        ],
    )
    assert [h.subject for h in await store.search("change-2")] == ["change-2"]
    found = {h.subject for h in await store.search("change-2 cache")}  # (either term)
    assert found == {"change-2", "flaky"}
