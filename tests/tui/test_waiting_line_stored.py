"""A headless run's line of what waits for a person is printed once its event is in the
database: a script that acts on the line at once (`gates --json`, `approve`) finds the gate
waiting. Regression: the line was printed as the event was emitted, up to a batch's window
before it was written, and `gates --json` right after it listed no gate."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from .conftest import GATED_PLAN, Run, spawn_pg


def _opened(db: str) -> list[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT data FROM events WHERE type = 'gate.opened'").fetchall()
    return [r[0] for r in rows]


def test_the_gate_s_line_comes_once_the_gate_is_in_the_database(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "gated.yaml").write_text(GATED_PLAN)
    proc = spawn_pg(tmp_path, cli_env, "run", "gated.yaml", "--headless")
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "waits for approval" in line:
                break
        assert any("waits for approval" in line for line in lines), lines
        opened = _opened(cli_env["PHASEGATE_DB"])  # (at once: as a script reading the line)
        assert len(opened) == 1 and '"review"' in opened[0]
        done = pg("approve", "last", "review", "--reason", "ok")
        assert done.returncode == 0, done.stderr
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        rest = out.splitlines()
        assert any("two" in line for line in rest) and rest[-1].startswith("run "), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
