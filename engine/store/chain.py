"""The hash chain of a run's events: each row's `chain` is the SHA-256 of the previous row's
chain and of the row itself (run, seq, type, time, version, payload), so that a row changed,
removed or inserted by hand breaks every link after it. `verify` walks a run's rows and says
which links are broken.

Links alone cannot tell a run whose last events were removed from one that ended there, nor
vouch for the run's row: so as each batch of events is written, the run's row keeps its
anchor, the last event's seq and `anchor` of that event's chain and the row's identity (user,
host, plan, start). A run recorded before anchors (schema 10) verifies by its links only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import NamedTuple

# (seq, type, ts, v, data, chain) as stored
Row = tuple[int, str, float, int, str, "str | None"]


def link(prev: str, run_id: str, seq: int, kind: str, ts: float, v: int, data: str) -> str:
    text = f"{prev}\n{run_id}\n{seq}\n{kind}\n{ts!r}\n{v}\n{data}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class RunFacts(NamedTuple):
    """A run's row as stored: who started the run, where, which plan, when; and its anchor
    (`seq` None: recorded before anchors). `anchored_since`: when the database began anchoring
    (None if it never did)."""

    user: str
    host: str
    plan_name: str
    plan_path: str
    created_at: float
    seq: int | None
    anchor: str | None
    anchored_since: float | None


def identity(run_id: str, user: str, host: str, plan_name: str, path: str, created: float) -> str:
    """The fields of a run's row that say whose run it is, as the anchor hashes them."""
    return f"{run_id}\n{user}\n{host}\n{plan_name}\n{path}\n{created!r}"


def anchor(head: str, seq: int, ident: str) -> str:
    """The anchor of a chain that ends at event `seq`, whose chain is `head`."""
    text = f"{head}\n{seq}\n{ident}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def verify(
    run_id: str, rows: Sequence[Row], run: RunFacts | None = None, notes: list[str] | None = None
) -> list[str]:
    """What is wrong with the run's chain, one line per broken link; [] when it holds. With the
    run's row (`run`): its anchor and identity too; what verifying could not cover goes to
    `notes` (a run recorded before anchors)."""
    if rows and all(r[5] is None for r in rows):
        if run is not None and _was_anchored(rows, run):  # (then it was chained too)
            return _unchained(rows, run)
        return [
            f"run {run_id} was recorded before its events were hash-chained "
            "(phasegate 0.2 and older): it cannot be verified"
        ]
    problems: list[str] = []
    broken: set[int] = set()  # (events whose link is broken: reported once)
    prev, last = "", 0
    for seq, kind, ts, v, data, chain in rows:
        if seq != last + 1:
            gone = (
                f"event {last + 1} is missing"
                if seq == last + 2
                else f"events {last + 1} to {seq - 1} are missing"
            )
            problems.append(f"{gone}: removed from the database")
        if chain is None:
            broken.add(seq)
            problems.append(f"event {seq} ({kind}) carries no hash: inserted by hand")
        elif chain != link(prev, run_id, seq, kind, ts, v, data):
            broken.add(seq)
            problems.append(
                f"event {seq} ({kind}) does not match its hash: changed, or a row before it "
                "was removed or inserted"
            )
        prev, last = chain or "", seq
    if run is not None:
        problems += _anchored(run_id, rows, run, broken, notes if notes is not None else [])
    return problems


def _was_anchored(rows: Sequence[Row], run: RunFacts) -> bool:
    """Did the run begin with an anchor: its row has one, or it started after the database
    began anchoring runs (and so after it began chaining their events)?"""
    began_after = run.anchored_since is not None and bool(rows) and rows[0][2] > run.anchored_since
    return run.seq is not None or began_after


def _unchained(rows: Sequence[Row], run: RunFacts) -> list[str]:
    """A run anchored when it began whose every event's link is gone: one problem, not one per
    event, nor the note of a run recorded before chaining (which it is not)."""
    n = len(rows)
    problems = [
        f"the hash chain was removed from its {n} event{'s' if n != 1 else ''} "
        "(the run was anchored when it began)"
    ]
    if run.seq is None or run.anchor is None:
        problems.append("its anchor was removed from the run's row too")
    elif rows[-1][0] < run.seq:
        problems.append(f"the run recorded {run.seq} events: the last ones were removed too")
    return problems + _row_changes(rows, run)


def _anchored(
    run_id: str, rows: Sequence[Row], run: RunFacts, broken: set[int], notes: list[str]
) -> list[str]:
    """What the run's row and its anchor say is wrong with the events (and the row), but for
    the events whose link is `broken` (reported already)."""
    changed = _row_changes(rows, run)
    if run.seq is None or run.anchor is None:
        if rows and run.anchored_since is not None and rows[0][2] > run.anchored_since:
            return [
                *changed,
                "the run has no anchor, yet it started after the database began anchoring "
                "runs: its anchor was removed from the run's row",
            ]
        notes.append(
            "the end of the chain is not anchored (the run was recorded before phasegate "
            "anchored it): events removed from the end cannot be noticed"
        )
        return changed
    problems = []
    last = rows[-1][0] if rows else 0
    if last < run.seq:
        first = last + 1
        gone = f"event {first} is" if first == run.seq else f"events {first} to {run.seq} are"
        problems.append(f"{gone} missing: removed from the end of the run (it recorded {run.seq})")
    extra = [r[0] for r in rows if r[0] > run.seq and r[0] not in broken]
    if extra:
        which = f"event {extra[0]}" if len(extra) == 1 else f"events {extra[0]} to {extra[-1]}"
        problems.append(
            f"{which} came after the run's last recorded event ({run.seq}): inserted by hand"
        )
    at = next((r for r in rows if r[0] == run.seq), None)
    ident = identity(run_id, run.user, run.host, run.plan_name, run.plan_path, run.created_at)
    if at is None or anchor(at[5] or "", run.seq, ident) != run.anchor:
        if changed:  # (the row, as its run.started event says)
            problems += changed
        elif at is not None and run.seq not in broken:
            problems.append(
                f"the run's row (user, host, plan, start) or its event {run.seq} ({at[1]}) "
                "does not match the anchor the run wrote: changed by hand"
            )
    return problems


def _row_changes(rows: Sequence[Row], run: RunFacts) -> list[str]:
    """Where the run's row differs from its (chained) run.started event."""
    if not rows or rows[0][0] != 1 or rows[0][1] != "run.started":
        return []
    try:
        data = json.loads(rows[0][4])
    except ValueError:
        return []  # (its link says it was changed)
    if not isinstance(data, dict):
        return []
    pairs = [
        ("user", run.user, data.get("user")),
        ("host", run.host, data.get("host")),
        ("plan", run.plan_name, data.get("plan_name")),
        ("plan path", run.plan_path, data.get("plan_path")),
        ("start", run.created_at, rows[0][2]),
    ]
    return [
        f"the run's {what} is {stored!r} in its row but {said!r} in its run.started event: "
        "the row was changed"
        for what, stored, said in pairs
        if said is not None and stored != said
    ]
