"""`phasegate risks` shows each risk's text whole: it was cut at 50 and 40 characters with no
ellipsis, whatever the terminal's width (the table wraps a cell to the terminal instead)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.control import risks

from .helpers import run_started

MESSAGE = "CPU at 100% (threshold 95%) for the last five minutes on the build host"
ACTION = "nothing of the run's is slowed; free the machine if it lasts"


async def _run_with_a_risk(db: str) -> None:
    store = await SQLiteStore.open(db)
    try:
        from phasegate.engine.store.base import RunRow

        await store.create_run(RunRow("r1", "p", "x.yaml", "running", 1.0))
        raised = ev.RiskRaised(2.0, "cpu", "cpu", "medium", "run", MESSAGE, ACTION)
        await store.write_batch("r1", [(1, run_started(1.0, "r1", ["t"])), (2, raised)])
    finally:
        await store.close()


@pytest.mark.parametrize("columns", [None, 200, 60])
async def test_a_risks_text_is_whole_at_any_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: int | None
) -> None:
    db = str(tmp_path / "pg.db")
    await _run_with_a_risk(db)
    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: columns)
    shown = await risks(db, "r1", as_json=False, every=False)
    lines = shown.splitlines()
    if columns is not None:
        assert max(len(line) for line in lines) <= columns
    words = " ".join(shown.split())
    for text in (MESSAGE, ACTION):  # (every word there, in order, wrapped or not)
        at = 0
        for word in text.split():
            at = words.index(word, at) + len(word)
