"""What `diff` and `search` print: durations as `show` writes them, tasks a failure blocked
apart from the failures, and a long finding cut (whole in --json)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from phasegate.tui.cli.reports import FOUND_CHARS, FOUND_LINES, diff_text, search_history
from phasegate.tui.text import cells


def _diff(**changes: Any) -> dict[str, Any]:
    tasks = [
        ("one", "succeeded", "succeeded", 0.0010, 0.0003),
        ("two", "succeeded", "failed", 0.509, 0.007),
        ("three", "succeeded", "blocked", 0.0007, None),
        ("four", "succeeded", "blocked", 75.0, None),
    ]
    d: dict[str, Any] = {
        "a": {"run": "aaaa", "status": "succeeded", "duration": 0.0227},
        "b": {"run": "bbbb", "status": "failed", "duration": 0.0225},
        "duration_delta": -0.0002,
        "tasks": [
            {
                "id": tid,
                "status_a": sa,
                "status_b": sb,
                "duration_a": da,
                "duration_b": db,
                "delta": None if db is None else db - da,
            }
            for tid, sa, sb, da, db in tasks
        ],
        "new_failures": ["two"],
        "now_blocked": ["three", "four"],
        "now_cancelled": [],
        "fixed": [],
        "unblocked": [],
        "critical_path": {"a": ["two"], "b": ["two"]},
        "amendments": {"a": [], "b": []},
        "metrics": {},
    }
    return d | changes


def test_diff_writes_durations_as_show_does_and_a_change_too_small_to_show_as_same() -> None:
    """It printed `0.0s -> 0.0s: -0.0s` and `0.5s -> 0.0s -0.5s` where `show` said 23ms, 509ms."""
    text = diff_text(_diff())
    lines = {line.split()[0]: line for line in text.splitlines() if line}
    assert text.splitlines()[0] == "aaaa (succeeded, 23ms) -> bbbb (failed, 22ms): same"
    assert lines["one"].split()[-4:] == ["1ms", "->", "0ms", "-1ms"]
    assert lines["two"].split()[-4:] == ["509ms", "->", "7ms", "-502ms"]
    assert lines["four"].split()[-4:] == ["1m15s", "->", "-", "-"]
    assert "0.0s" not in text and "0.5s" not in text
    slower = diff_text(_diff(duration_delta=65.2)).splitlines()[0]
    assert slower.endswith(": +1m05s")


def test_diff_names_the_tasks_a_failure_blocked_apart_from_the_failures() -> None:
    """`new failures: two, three, four`: three and four never ran, two's failure blocked them."""
    lines = diff_text(_diff()).splitlines()
    assert "new failures: two" in lines and "now blocked: three, four" in lines
    assert not [line for line in lines if line.startswith(("now cancelled", "no longer"))]
    back = diff_text(_diff(new_failures=[], now_blocked=[], fixed=["two"], unblocked=["three"]))
    assert "fixed: two" in back.splitlines() and "no longer blocked: three" in back.splitlines()


def _found(tmp_path: Path, note: str, as_json: bool = False) -> str:
    from phasegate.engine.store import SQLiteStore
    from phasegate.engine.store.base import Knowledge

    async def go() -> str:
        db = str(tmp_path / "k.db")
        store = await SQLiteStore.open(db)
        await store.remember("r1", "demo", [Knowledge("note", 1.0, "alice", note)])
        await store.close()
        return await search_history(db, "staging", 20, as_json)

    return asyncio.run(go())


NOTE = "the deploy script hangs on the staging host when the vpn drops; " * 32  # (~2 KB)


def test_a_long_finding_is_cut_to_the_terminal_with_an_ellipsis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2 KB operator note was printed whole: forty wrapped lines on a terminal."""
    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: 80)  # (an 80-column tty)
    lines = _found(tmp_path, NOTE).splitlines()
    assert 2 < len(lines) <= 1 + FOUND_LINES and all(cells(line) <= 80 for line in lines), lines
    assert lines[-1].endswith("…") and lines[1].split()[-1] != "…"
    at = lines[0].index("FOUND")
    assert " ".join(line[at:] for line in lines[1:]).startswith("alice: the deploy script")


def test_a_long_finding_is_cut_in_a_pipe_and_whole_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped, the note was one table line of 2 KB; --json keeps it whole."""
    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: None)  # (a pipe)
    lines = _found(tmp_path, NOTE).splitlines()
    assert len(lines) == 2 and lines[1].endswith("…")
    at = lines[0].index("FOUND")
    assert cells(lines[1][at:]) == FOUND_CHARS
    results = json.loads(_found(tmp_path, NOTE, as_json=True))["results"]
    assert results[0]["text"] == NOTE


def test_on_a_narrow_terminal_ids_statuses_and_attempts_stay_whole() -> None:
    # (every column was whole: below ~63 columns the table fell back to cutting each in slices)
    long = "a-very-long-task-identifier-of-the-build"
    row = {"id": long, "status_a": "succeeded", "status_b": "failed", "attempts_a": 1}
    row |= {"attempts_b": 2, "duration_a": 0.102, "duration_b": 0.101, "delta": -0.001}
    lines = diff_text(_diff(tasks=[row]), width=60).splitlines()
    assert long in lines and any("succeeded -> failed  1 -> 2" in line for line in lines), lines
    assert all(len(line) <= 60 for line in lines), lines
