"""`phasegate show RUN` on an 80-column terminal, a task's id 42 characters long: the table
narrowed every column to fit it, the id wrapped over several lines, the statuses and times
split (`succeede`/`d`). Now the id is whole on a line of its own, the rest of its row under the
headers on the next line; every other id, status, try count, duration and exit code whole; the
reason wraps between its words. A pipe still gets one line a task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.views import show_run
from phasegate.tui.text import cells
from tests.fixtures import load_run, parse_jsonl

T0 = 1_790_000_000.0
LONG = "compile_the_whole_frontend_bundle_for_prod"  # 42 characters, one word
REASON = "exited with code 3 after the linker ran out of memory"

START = {
    "run_id": "n4rr0w00", "plan_name": "narrow", "plan_path": "/p/narrow.yaml",
    "phases": [{"id": "build", "title": "", "timebox": None}],
    "tasks": [{"id": t, "phase": "build", "agent": "builder", "needs": [], "estimate": None}
              for t in (LONG, "short", "sleeper")],
    "agents": [{"id": "builder", "slots": 3, "capabilities": []}],
    "gates": [],
}  # fmt: skip


def _recording() -> str:
    def started(task: str) -> dict[str, Any]:
        return {"task": task, "attempt": 1, "agent": "builder", "pid": 9, "pgid": 9,
                "command": "", "proc_started": None}  # fmt: skip

    def ended(task: str, code: int) -> dict[str, Any]:
        status = "succeeded" if code == 0 else "failed"
        why = "" if code == 0 else REASON
        return {"task": task, "attempt": 1, "status": status, "exit_code": code, "reason": why}

    rows: list[tuple[float, str, dict[str, Any]]] = [
        (0, "run.started", START),
        (0, "phase.started", {"phase": "build"}),
        *((0, "task.started", started(t)) for t in (LONG, "short", "sleeper")),
        (1.0, "task.finished", ended(LONG, 0)),
        (0.001, "task.finished", ended("short", 3)),
        (20.0, "task.finished", ended("sleeper", 0)),
        (20.0, "phase.finished", {"phase": "build", "status": "succeeded"}),
        (20.0, "run.finished", {"status": "failed", "reason": "short failed"}),
    ]
    return "\n".join(
        json.dumps({"seq": i + 1, "type": name, "ts": T0 + ts, "v": 1, "data": data})
        for i, (ts, name, data) in enumerate(rows)
    )


@pytest.fixture
async def db(tmp_path: Path) -> str:
    path = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(path)
    try:
        await load_run(store, parse_jsonl(_recording()))
    finally:
        await store.close()
    return path


def _table(out: str) -> list[str]:
    lines = out.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("TASK")) :]


def _check(table: list[str], width: int) -> None:
    assert all(cells(line) <= width for line in table), table
    head = table[0]
    assert head.split() == ["TASK", "PHASE", "AGENT", "STATUS", "TRIES", "DURATION", "EXIT",
                            "REASON"]  # fmt: skip
    # the long id whole, alone on its line; its row on the next one, under the headers
    at = table.index(LONG)
    row = table[at + 1]
    assert not row[: head.index("PHASE")].strip()
    assert row.split() == ["build", "builder", "succeeded", "1", "1.0s", "0"], table
    assert row.index("succeeded") == head.index("STATUS")
    # the other rows whole, each on its first line, their columns under their headers
    short = next(line for line in table if line.startswith("short "))
    assert short.split()[:7] == ["short", "build", "builder", "failed", "1", "1ms", "3"]
    sleeper = next(line for line in table if line.startswith("sleeper "))
    assert sleeper.split() == ["sleeper", "build", "builder", "succeeded", "1", "20.0s", "0"]
    assert sleeper.index("20.0s") == head.index("DURATION") == short.index("1ms")
    # the reason wraps between its words, in its column
    start, first = head.index("REASON"), table.index(short)
    wrapped = table[first : table.index(sleeper)]
    assert all(not line[:start].strip() for line in wrapped[1:]), table
    assert " ".join(line[start:] for line in wrapped) == REASON, table


@pytest.mark.parametrize("width", [80, 72])
async def test_a_long_task_id_keeps_the_table_whole_at_80_columns(
    db: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: width)  # (a tty)
    _check(_table(await show_run(db, "last", as_json=False)), width)


async def test_a_pipe_still_gets_one_line_a_task(db: str) -> None:
    table = _table(await show_run(db, "last", as_json=False))  # (pytest's stdout: no tty)
    assert len(table) == 4 and table[1].startswith(LONG + "  build  builder  succeeded  1")
    assert table[2].endswith(REASON)


def test_the_show_command_at_80_columns(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from phasegate.tui.cli.main import cli

    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: 80)  # (an 80-column tty)
    out = CliRunner().invoke(cli, ["show", "last", "--db", db]).output
    _check(_table(out), 80)


def _column_text(out: str, headers: list[str], column: int) -> str:
    """Every line's text under `headers[column]` (by the header line's positions), run
    together with no spaces: what the column says, wrapped or not."""
    head, *lines = out.splitlines()
    starts = [head.index(h.upper()) for h in headers]
    end = starts[column + 1] if column + 1 < len(starts) else None
    return "".join("".join(line[starts[column] : end].split()) for line in lines)


@pytest.mark.parametrize("width", [80, 72, 66])
def test_a_narrow_table_wraps_long_words_and_cuts_none(width: int) -> None:
    """Two agents `builder-agent-linux-x86` and `builder-agent-macos-arm` both read
    `builder-age…`, a reason's path `'dist/app.t…`: a table narrowed for the terminal cut the
    words of its free columns, and the run's record no longer said which agent, which file."""
    from phasegate.tui.text import whole_table

    headers = ["task", "phase", "agent", "status", "tries", "duration", "exit", "reason"]
    rows = [
        ["compile", "build_phase_with_long_name", "builder-agent-linux-x86", "failed", "1",
         "1ms", "3", "declared output 'dist/app.tar' was not produced"],
        ["link", "build_phase_with_long_name", "builder-agent-macos-arm", "succeeded", "1",
         "1ms", "0", "失敗しました失敗しました"],
    ]  # fmt: skip
    out = whole_table(headers, rows, whole={0, 3, 4, 5, 6}, width=width)
    assert all(cells(line) <= width for line in out.splitlines()), out
    assert "…" not in out, out
    for column in (1, 2, 7):
        said = _column_text(out, headers, column)
        for row in rows:
            assert "".join(row[column].split()) in said, (column, out)
