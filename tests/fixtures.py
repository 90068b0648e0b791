"""Recorded runs as JSON Lines, loaded into a fresh database by `load_run` / `fixture_db`.

A recording is one JSON object a line, so that it survives migrations (no committed .db files):

    {"seq": 1, "type": "run.started", "ts": 1700000000.0, "v": 1, "data": {...}}
    {"output": {"task": "build", "attempt": 1, "line": 1, "stream": "out", "text": "ok", "ts": 1.0}}

Event lines carry what a store keeps of an event; an unknown type (written by a newer phasegate)
loads as it is. `output` lines are optional. The first event must be `run.started`: the run's row
(id, plan, user, created_at) comes from it and its summary (status, times, counts) from the fold.
`record_run` writes a run from any store back out in the same form.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.store import SQLiteStore, Store
from phasegate.engine.store.base import OutputLine, RunRow


@dataclass
class Recording:
    events: list[tuple[int, ev.Event]] = field(default_factory=list)
    # output lines without their run id, which is given when they are loaded
    output: list[dict[str, Any]] = field(default_factory=list)


def parse_jsonl(text: str, source: str = "<recording>") -> Recording:
    """Parse a recording; a bad line raises ValueError naming the source and the line."""
    rec = Recording()
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            if "output" in obj:
                rec.output.append(dict(obj["output"]))
            else:
                event = ev.from_record(obj["type"], obj["ts"], obj.get("v", 1), obj["data"])
                rec.events.append((int(obj["seq"]), event))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{source}:{number}: not a recorded event or output line: {exc}"
            ) from exc
    return rec


def read_jsonl(path: str | os.PathLike[str]) -> Recording:
    return parse_jsonl(Path(path).read_text(encoding="utf-8"), str(path))


def dump_jsonl(events: Iterable[tuple[int, ev.Event]], output: Iterable[OutputLine] = ()) -> str:
    """A recording of events (and output lines), one JSON object a line."""
    lines = []
    for seq, e in events:
        name, version, data = e.record()
        lines.append(
            json.dumps(
                {"seq": seq, "type": name, "ts": e.ts, "v": version, "data": json.loads(data)},
                ensure_ascii=False,
            )
        )
    for o in output:
        line = msgspec.structs.asdict(o)
        del line["run_id"]
        lines.append(json.dumps({"output": line}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


async def record_run(store: Store, run_id: str) -> str:
    """Everything a store holds of a run's events and output, as a recording."""
    return dump_jsonl(await store.read_events(run_id), await store.read_output(run_id))


async def load_run(store: Store, recording: Recording, run_id: str | None = None) -> str:
    """Write a recording into a store as a run (renamed to `run_id` if given); returns its id."""
    if not recording.events or not isinstance(recording.events[0][1], ev.RunStarted):
        raise ValueError("a recording starts with a run.started event")
    first_seq, started = recording.events[0]
    assert isinstance(started, ev.RunStarted)
    events = list(recording.events)
    if run_id is not None and run_id != started.run_id:
        started = started.replace(run_id=run_id)
        events[0] = (first_seq, started)
    state = project(e for _, e in events)
    await store.create_run(
        RunRow(
            id=started.run_id,
            plan_name=started.plan_name,
            plan_path=started.plan_path,
            status="pending",
            created_at=started.ts,
            user=started.user,
            host=started.host,
        )
    )
    output = [OutputLine(run_id=started.run_id, **o) for o in recording.output]
    summary: dict[str, Any] = {
        "status": state.status.value,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "counts": state.counts(),
    }
    await store.write_batch(started.run_id, events, output, summary=summary)
    return started.run_id


async def fixture_db(
    db_path: str | os.PathLike[str], *recordings: str | os.PathLike[str]
) -> SQLiteStore:
    """A fresh database at `db_path` holding the recorded runs (JSON Lines files), in order.

    The caller closes the store. Refuses an existing file: a fixture never adds to a database
    that something else wrote.
    """
    if os.path.exists(db_path):
        raise FileExistsError(f"{db_path} exists; a fixture database starts empty")
    store = await SQLiteStore.open(os.fspath(db_path))
    try:
        for path in recordings:
            await load_run(store, read_jsonl(path))
    except BaseException:
        await store.close()
        raise
    return store
