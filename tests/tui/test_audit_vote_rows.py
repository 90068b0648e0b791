"""The audit trail's rows say what each decision did and who made it: a gate vote's row has the
engine's answer (`outcome`: approved or rejected, and whether it closed the gate) as a
command's row has; the run's start and a budget extended carry the uid and host of who did it,
as every row of a person's act does. Runs recorded before these were kept still read, and
their hash chain holds."""

from __future__ import annotations

import json
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.audit import audit, verify
from tests.fixtures import Recording, load_run

SSH = "10.0.0.1 50000 10.0.0.2 22"
GATES = [
    {"id": "review", "after": "p", "approval": "manual", "approvers": [], "quorum": 2},
    {"id": "ship", "after": "p", "approval": "manual", "approvers": [], "quorum": 1},
]


WHERE = {"host": "vm", "tty": "/dev/pts/3", "ssh": SSH}


async def _recorded(db_path: Path, events: list[ev.Event]) -> None:
    db_path.parent.mkdir(mode=0o700, exist_ok=True)
    store = await SQLiteStore.open(str(db_path))
    try:
        await load_run(store, Recording(list(enumerate(events, 1))))
    finally:
        await store.close()


def _votes() -> list[ev.Event]:
    """A gate of quorum 2 approved by two, one refused in between; another rejected."""
    return [
        ev.RunStarted(1.0, "r", "p", "p.yaml", [], [], [], user="ann", host="vm", gates=GATES),
        ev.GateOpened(2.0, "review", 1, [], "h1", "manual"),
        ev.GateVoted(3.0, "review", "approve", "bob", 8, reason="fine", command=1, **WHERE),
        ev.GateRefused(3.5, "review", "approve", "bob", 8, "bob approved it already", **WHERE),
        ev.GateVoted(4.0, "review", "approve", "cy", 9, command=3, **WHERE),
        ev.GateClosed(4.1, "review", "passed", "approved by bob, cy"),
        ev.GateOpened(5.0, "ship", 1, [], "h2", "manual"),
        ev.GateVoted(6.0, "ship", "reject", "bob", 8, reason="not yet", command=4, **WHERE),
        ev.GateClosed(6.1, "ship", "rejected", "rejected by bob: not yet"),
    ]


async def test_a_votes_row_says_what_the_vote_did(db_path: Path) -> None:
    # regression: a vote's row had no `outcome` (a command's row has the engine's answer), so
    # the trail did not say which vote closed the gate
    await _recorded(db_path, _votes())
    rows = json.loads(await audit(str(db_path), "r", True))["audit"]
    votes = [r for r in rows if r["decision"] in ("approve", "reject")]
    assert [(r["user"], r["accepted"], r["outcome"], r["closed_gate"]) for r in votes] == [
        ("bob", True, "approved: 1 of 2 approvals, the gate still waits", False),
        ("bob", False, "bob approved it already", False),
        ("cy", True, "approved: the gate passes", True),
        ("bob", True, "rejected: the gate is rejected", True),
    ]
    text = await audit(str(db_path), "r", False)
    first = next(line for line in text.splitlines() if " approve " in line)
    assert "fine - approved: 1 of 2 approvals" in first and "bob (8)" in first


async def test_the_runs_start_and_a_budget_extended_say_who_by_uid_and_host(
    db_path: Path,
) -> None:
    # regression: the `run started` row had no uid, and a budget extended had neither uid nor
    # host (nor tty, ssh), where every other row of a person's act has them
    started = ev.RunStarted(1.0, "r", "p", "p.yaml", [], [], [], user="ann", host="vm", uid=7)
    await _recorded(
        db_path, [started, ev.BudgetExtended(7.0, "run", "ann", seconds=2, uid=7, **WHERE)]
    )
    rows = json.loads(await audit(str(db_path), "r", True))["audit"]
    start = rows[0]
    assert (start["decision"], start["user"], start["uid"], start["host"]) == (
        "run started",
        "ann",
        7,
        "vm",
    )
    extended = next(r for r in rows if r["decision"] == "budget of run extended")
    assert {k: extended[k] for k in ("user", "uid", "host", "tty", "ssh")} == {
        "user": "ann",
        "uid": 7,
        "host": "vm",
        "tty": "/dev/pts/3",
        "ssh": SSH,
    }
    text = await audit(str(db_path), "r", False)
    lines = [line for line in text.splitlines() if "run started" in line or "extended" in line]
    assert all("ann (7)" in line and " vm" in line for line in lines)
    holds, said = await verify(str(db_path), "r", False)
    assert holds, said


async def test_a_run_recorded_before_uids_were_kept_shows_none(db_path: Path) -> None:
    # (the fields are new with defaults: an old run's rows read, with uid -1, "not known",
    # which the table leaves out rather than show a uid nobody has)
    started = ev.RunStarted(1.0, "old", "p", "p.yaml", [], [], [], user="ann", host="vm")
    await _recorded(db_path, [started, ev.BudgetExtended(2.0, "run", "ann", seconds=2.0)])
    rows = json.loads(await audit(str(db_path), "old", True))["audit"]
    assert [(r["user"], r["uid"]) for r in rows] == [("ann", -1), ("ann", -1)]
    text = await audit(str(db_path), "old", False)
    assert "(-1)" not in text and text.count(" ann ") == 2
    assert (await verify(str(db_path), "old", False))[0]


async def test_only_the_vote_that_closes_a_change_gate_says_it_decides_it(
    db_path: Path,
) -> None:
    """Regression: an amendment that weakens a gate waits for that gate's approvers too
    (engine/run/amend_oversight.py); every vote on it said `it decides change-1`."""
    weakened = {"what": "gate", "id": "review", "change": "changed", "oversight": {"quorum": 1}}
    events = [
        ev.RunStarted(1.0, "r", "p", "p.yaml", [], [], [], user="ann", host="vm", gates=GATES),
        ev.ChangeProposed(2.0, "change-1", "ann", 7, [weakened], approvers=["ann", "bob"]),
        ev.GateVoted(3.0, "change-1", "approve", "ann", 7, command=1, **WHERE),
        ev.GateVoted(4.0, "change-1", "approve", "bob", 8, command=2, **WHERE),
        ev.ChangeClosed(4.1, "change-1", "passed", "approved by ann, bob"),
    ]
    await _recorded(db_path, events)
    rows = json.loads(await audit(str(db_path), "r", True))["audit"]
    votes = [(r["user"], r["outcome"], r["closed_gate"]) for r in rows if "closed_gate" in r]
    assert votes == [
        ("ann", "approved: change-1 still waits for more approvals", False),
        ("bob", "approved: it decides change-1", True),
    ]


async def test_a_take_over_and_notes_are_rows_of_the_trail(db_path: Path) -> None:
    """Regression: a take-over (`run.recovered`) was not in the trail; a note recorded after
    the run's end was missing, and a live note's row said only `noted`."""
    entries = [
        {"task": "a", "attempt": 1, "action": "rerun", "pids": []},
        {"task": "b", "attempt": 1, "action": "adopted", "pids": [7]},
    ]
    events = [
        ev.RunStarted(1.0, "r", "p", "p.yaml", [], [], [], user="ann", host="vm", gates=GATES),
        ev.RunRecovered(2.0, "ann", 4242, 1.5, entries, uid=7, host="vm2"),
        ev.RunNoted(3.0, "the cache was cold", "ann"),
        ev.CommandDone(3.0, 1, "note", "ann", True, "noted", 7, **WHERE),
        ev.RunFinished(4.0, "succeeded"),
        ev.RunNoted(5.0, "next time warm it", "bob", 8, "vm3", "/dev/pts/9", ""),
    ]
    await _recorded(db_path, events)
    rows = json.loads(await audit(str(db_path), "r", True))["audit"]
    found = {r["decision"]: r for r in rows}
    taken = found["run taken over"]
    assert (taken["user"], taken["uid"], taken["host"]) == ("ann", 7, "vm2")
    assert taken["reason"] == "engine pid 4242 had stopped; rerun: a; adopted: b"
    live, later = [r for r in rows if r["decision"] == "note"]
    assert (live["reason"], live["outcome"], live["tty"]) == (
        "the cache was cold",
        "noted",
        "/dev/pts/3",
    )
    assert (later["user"], later["uid"], later["host"], later["tty"], later["reason"]) == (
        "bob",
        8,
        "vm3",
        "/dev/pts/9",
        "next time warm it",
    )
    holds, said = await verify(str(db_path), "r", False)
    assert holds, said


async def test_the_runs_start_says_from_which_terminal_and_over_ssh(db_path: Path) -> None:
    # regression: the `run started` row (and a take-over's) had neither tty nor ssh, and the
    # table's FROM column showed no row's terminal
    started = ev.RunStarted(1.0, "r", "p", "p.yaml", [], [], [], user="ann", uid=7, **WHERE)
    await _recorded(db_path, [started])
    start = json.loads(await audit(str(db_path), "r", True))["audit"][0]
    assert (start["tty"], start["ssh"]) == ("/dev/pts/3", SSH)
    text = await audit(str(db_path), "r", False)
    line = next(line for line in text.splitlines() if "run started" in line)
    assert "vm pts/3 ssh" in line
    assert (await verify(str(db_path), "r", False))[0]


async def test_a_vote_says_which_opening_of_its_gate_it_decided(db_path: Path) -> None:
    # regression: a gate rejected (the run sent back) and opened again had its two rounds of
    # votes under one name, with nothing to tell them apart
    gates = [{"id": "ship", "after": "p", "approval": "manual", "approvers": [], "quorum": 1}]
    await _recorded(
        db_path,
        [
            ev.RunStarted(1.0, "r", "p", "p.yaml", [], [], [], user="ann", host="vm", gates=gates),
            ev.GateOpened(2.0, "ship", 1, [], "h1", "manual"),
            ev.GateVoted(3.0, "ship", "reject", "bob", 8, reason="not yet", command=1, **WHERE),
            ev.GateClosed(3.1, "ship", "rejected", "rejected by bob: not yet"),
            ev.GateOpened(5.0, "ship", 2, [], "h2", "manual"),
            ev.GateVoted(6.0, "ship", "approve", "bob", 8, reason="now", command=2, **WHERE),
            ev.GateClosed(6.1, "ship", "passed", "approved by bob"),
        ],
    )
    rows = json.loads(await audit(str(db_path), "r", True))["audit"]
    votes = [r for r in rows if r["decision"] in ("approve", "reject")]
    assert [(r["decision"], r["attempt"]) for r in votes] == [("reject", 1), ("approve", 2)]
    text = await audit(str(db_path), "r", False)
    approve = next(line for line in text.splitlines() if " approve " in line)
    reject = next(line for line in text.splitlines() if " reject " in line)
    assert " ship #2 " in approve and " ship " in reject and "#1" not in reject
