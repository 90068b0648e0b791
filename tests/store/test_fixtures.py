"""The recorded-run helper: JSON Lines in, a fresh database out, and back to the same lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.store import MemoryStore, Store
from tests.fixtures import fixture_db, load_run, parse_jsonl, read_jsonl, record_run

RECORDING = Path(__file__).parent / "data" / "failed_delivery_run.jsonl"


async def test_a_recorded_run_loads_into_a_fresh_database(db_path: Path) -> None:
    store = await fixture_db(db_path, RECORDING)
    try:
        (row,) = await store.list_runs()
        assert (row.id, row.plan_name, row.status, row.user) == (
            "rec00001",
            "delivery",
            "failed",
            "alice",
        )
        assert row.counts == {"succeeded": 3, "timed_out": 1, "blocked": 2}
        state = project(e for _, e in await store.read_events(row.id))
        assert state.status is RunStatus.FAILED
        assert state.tasks["compile"].attempts == 2
        assert state.tasks["publish"].status is TaskStatus.BLOCKED
        assert [o.text for o in await store.read_output(row.id, "compile", attempt=1)] == [
            "cc -c main.c",
            "main.c:3: error: expected ';'",
            "make: *** [main.o] Error 1",
        ]
        unknown = [e for _, e in await store.read_events(row.id) if isinstance(e, ev.UnknownEvent)]
        assert [(e.name, e.schema_version) for e in unknown] == [("test.unknown", 2)]
    finally:
        await store.close()


async def test_a_recording_survives_a_store_unchanged(store: Store) -> None:
    run_id = await load_run(store, read_jsonl(RECORDING))
    assert await record_run(store, run_id) == RECORDING.read_text(encoding="utf-8")


async def test_a_recording_can_be_loaded_under_another_id() -> None:
    store = MemoryStore()
    rec = read_jsonl(RECORDING)
    await load_run(store, rec)
    await load_run(store, rec, run_id="copy0001")
    assert sorted(await store.run_ids()) == ["copy0001", "rec00001"]
    first = (await store.read_events("copy0001"))[0][1]
    assert isinstance(first, ev.RunStarted) and first.run_id == "copy0001"
    assert len(await store.read_output("copy0001")) == len(rec.output)


async def test_a_fixture_database_is_always_new(db_path: Path) -> None:
    db_path.parent.mkdir()
    db_path.write_bytes(b"")
    with pytest.raises(FileExistsError):
        await fixture_db(db_path, RECORDING)


def test_a_bad_line_is_named_by_file_and_line() -> None:
    good = RECORDING.read_text(encoding="utf-8").splitlines()[0]
    with pytest.raises(ValueError, match=r"run\.jsonl:3: not a recorded event"):
        parse_jsonl(f'{good}\n\n{{"seq": 2}}\n', "run.jsonl")


async def test_a_recording_must_start_the_run() -> None:
    rec = parse_jsonl('{"seq": 1, "type": "task.ready", "ts": 1.0, "v": 1, "data": {"task": "a"}}')
    with pytest.raises(ValueError, match=r"starts with a run\.started"):
        await load_run(MemoryStore(), rec)
