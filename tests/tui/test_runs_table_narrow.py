"""`phasegate runs` on an 80-column terminal with a plan whose name is one long word: the name
is cut, with an ellipsis; the ids, statuses, start times and durations stay whole. (The table
narrowed every column instead: the name cut inside, each start time wrapped onto two lines.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.tui.cli.views import runs_table
from phasegate.tui.text import cells, when

LONG = "a_very_long_unbroken_plan_name_for_the_nightly_release_pipeline"
T0 = 1_790_000_000.0
ROWS = [
    RunRow("74684dbc", "reason", "/p/r.yaml", "failed", T0, T0, T0 + 0.013,
           {"failed": 1, "blocked": 1}),
    RunRow("183a6cc5", "demo", "/p/d.yaml", "succeeded", T0, T0, T0 + 40.1, {"succeeded": 7}),
    RunRow("ea7436a5", LONG, "/p/l.yaml", "failed", T0, T0, T0 + 0.021,
           {"succeeded": 1, "failed": 1, "blocked": 1}),
]  # fmt: skip


def _check(lines: list[str], width: int) -> None:
    assert all(cells(line) <= width for line in lines), lines
    started = when(T0)
    rows = [line for line in lines[1:] if line[:1].strip()]  # (not a wrapped cell's next line)
    assert [r.split()[0] for r in rows] == ["74684dbc", "183a6cc5", "ea7436a5"], lines
    for line, status in zip(rows, ["failed", "succeeded", "failed"], strict=True):
        assert f"  {status}  " in line and f"  {started}  " in line, lines
    assert "  reason  " in rows[0] and "  demo  " in rows[1] and "  40.1s  " in rows[1]
    name = rows[2].split()[1]
    assert name.endswith("…") and LONG.startswith(name[:-1]) and len(name) > 8, rows[2]


@pytest.mark.parametrize("width", [80, 72])
def test_a_long_plan_name_is_cut_and_the_rest_stays_whole(width: int) -> None:
    _check(runs_table(ROWS, width=width).splitlines(), width)


def test_a_wide_terminal_or_a_pipe_gets_one_line_a_run() -> None:
    for width in (200, None):  # (None: a pipe, as `runs | grep` has it)
        lines = runs_table(ROWS, width=width).splitlines()
        assert len(lines) == 4 and lines[3].endswith("  1 succeeded, 1 failed, 1 blocked")
        assert LONG[:29] + "…" in lines[3]  # (cut at 30 characters, as before)


@pytest.fixture
async def runs_db(tmp_path: Path) -> str:
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    try:
        for row in reversed(ROWS):
            await store.create_run(row)
    finally:
        await store.close()
    return db


def test_the_runs_command_at_80_columns(monkeypatch: pytest.MonkeyPatch, runs_db: str) -> None:
    from phasegate.tui.cli.main import cli

    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: 80)  # (an 80-column tty)
    out = CliRunner().invoke(cli, ["runs", "--db", runs_db]).output
    _check(out.splitlines(), 80)
