"""The audit trail's rows for operators' commands: the operator's own reason beside the engine's
answer, and where the command came from, as a gate's vote has them; runs recorded before the
answers kept either still read, and their hash chain holds."""

from __future__ import annotations

import json
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.gates import audit, verify
from tests.fixtures import Recording, load_run

SSH = "10.0.0.1 50000 10.0.0.2 22"


async def _recorded(db_path: Path) -> None:
    """A run whose first command was answered by an older phasegate (command.done version 1,
    stored as it wrote it), then two answered now: one done, one refused."""
    store = await SQLiteStore.open(str(db_path))
    try:
        started = ev.RunStarted(
            1.0, "r", "p", "p.yaml", phases=[], tasks=[], agents=[], user="ann", host="vm"
        )
        old = {
            "command": 1,
            "kind": "pause",
            "by": "ann",
            "ok": True,
            "message": "paused",
            "uid": 7,
        }
        events: list[tuple[int, ev.Event]] = [
            (1, started),
            (2, ev.UnknownEvent(2.0, name="command.done", payload=old, schema_version=1)),
            (
                3,
                ev.CommandDone(
                    3.0,
                    2,
                    "skip",
                    "ann",
                    True,
                    "task 's1' is being stopped; it will be skipped",
                    7,
                    reason="CLI skip reason XYZ",
                    host="vm",
                    tty="/dev/pts/3",
                    ssh=SSH,
                    target="task s1",
                ),
            ),
            (
                4,
                ev.CommandDone(
                    4.0,
                    3,
                    "retry",
                    "ann",
                    False,
                    "this run has no task 'zz'",
                    7,
                    reason="flaky",
                    host="vm",
                    tty="/dev/pts/3",
                ),
            ),
        ]
        await load_run(store, Recording(events))
    finally:
        await store.close()


async def test_a_commands_row_keeps_the_operators_reason_the_answer_and_where_from(
    db_path: Path,
) -> None:
    # regression: the row's reason was the engine's answer ("task 's1' is being stopped"), the
    # operator's reason was nowhere, and its host, tty and ssh were blank (a vote's are not)
    db_path.parent.mkdir(mode=0o700)
    await _recorded(db_path)
    rows = json.loads(await audit(str(db_path), "r", True))["audit"]
    commands = {r["decision"]: r for r in rows if "outcome" in r}
    assert commands["skip"] == {
        "time": 3.0,
        "gate": "",
        "decision": "skip",
        "user": "ann",
        "uid": 7,
        "host": "vm",
        "tty": "/dev/pts/3",
        "ssh": SSH,
        "reason": "CLI skip reason XYZ",
        "accepted": True,
        "why": "",
        "outcome": "task 's1' is being stopped; it will be skipped",
        "target": "task s1",
    }
    refused = commands["retry"]
    assert (refused["reason"], refused["accepted"], refused["why"], refused["outcome"]) == (
        "flaky",
        False,
        "this run has no task 'zz'",
        "this run has no task 'zz'",
    )
    # answered before commands kept the operator's reason: none is known, the answer is
    old = commands["pause"]
    assert (old["reason"], old["outcome"], old["host"], old["uid"]) == ("", "paused", "", 7)
    text = await audit(str(db_path), "r", False)
    lines = {
        kind: line
        for line in text.splitlines()[1:]
        for kind in ("skip", "retry", "pause")
        if f" {kind} " in line
    }
    assert "vm pts/3 ssh" in lines["skip"]  # (host, terminal, over SSH)
    assert "CLI skip reason XYZ - task 's1' is being" in lines["skip"]
    assert text.splitlines()[0].split()[:2] == ["TIME", "ON"]
    assert " task s1 " in lines["skip"]  # (what the command acted on, where a gate's id goes)
    assert "flaky - this run has no task 'zz'" in lines["retry"]
    assert lines["pause"].rstrip().endswith("paused") and " vm " not in lines["pause"]
    holds, said = await verify(str(db_path), "r", False)
    assert holds, said
