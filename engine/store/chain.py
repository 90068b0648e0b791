"""The hash chain of a run's events: each row's `chain` is the SHA-256 of the previous row's
chain and of the row itself (run, seq, type, time, version, payload), so that a row changed,
removed or inserted by hand breaks every link after it. `verify` walks a run's rows and says
which links are broken."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# (seq, type, ts, v, data, chain) as stored
Row = tuple[int, str, float, int, str, "str | None"]


def link(prev: str, run_id: str, seq: int, kind: str, ts: float, v: int, data: str) -> str:
    text = f"{prev}\n{run_id}\n{seq}\n{kind}\n{ts!r}\n{v}\n{data}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def verify(run_id: str, rows: Sequence[Row]) -> list[str]:
    """What is wrong with the run's chain, one line per broken link; [] when it holds."""
    if rows and all(r[5] is None for r in rows):
        return [
            f"run {run_id} was recorded before its events were hash-chained "
            "(phasegate 0.2 and older): it cannot be verified"
        ]
    problems: list[str] = []
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
            problems.append(f"event {seq} ({kind}) carries no hash: inserted by hand")
        elif chain != link(prev, run_id, seq, kind, ts, v, data):
            problems.append(
                f"event {seq} ({kind}) does not match its hash: changed, or a row before it "
                "was removed or inserted"
            )
        prev, last = chain or "", seq
    return problems
