"""Stopping a run from its dashboard (`q`, then `s`) says how it ended, as `phasegate run
--headless` does (`run ID cancelled in 5.0s: ...`), and exits as it does: 1.

Regression: `phasegate run` printed `run ID ended` (as after a success) once the dashboard had
stopped the run."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.tui.launch import watch

from .conftest import PHASEGATE
from .test_tmux import Term, _env, term  # noqa: F401  (the fixture: tmux at 80x24)


class _Engine:
    """The run's engine process, as far as `watch` needs it: it ended with this code."""

    pid = 4242

    def __init__(self, code: int) -> None:
        self.code = code

    def wait(self) -> int:
        return self.code


def test_a_run_stopped_from_its_dashboard_says_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "data" / "phasegate.db")
    at = time.time()

    async def recorded() -> None:  # as the engine leaves its row once the run is cancelled
        store = await SQLiteStore.open(db)
        try:
            counts = {"succeeded": 1, "cancelled": 1}
            row = RunRow("r1", "demo", "demo.yaml", "cancelled", at, at, at + 5, counts)
            await store.create_run(row)
        finally:
            await store.close()

    asyncio.run(recorded())
    code = watch(db, "r1", _Engine(1), "never", dashboard=lambda *_: "stopped")  # type: ignore[arg-type]
    said = capsys.readouterr().out
    assert "run r1 cancelled in 5.0s: 1 succeeded, 1 cancelled" in said, said
    assert "ended" not in said and "phasegate show r1" in said
    assert code == 1  # (as `run --headless` exits when its run is cancelled)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_q_then_ctrl_s_in_a_real_terminal_cancels_the_run_and_says_so(
    term: Callable[..., Term],  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "long.yaml").write_text(
        "name: long\nagents: {a: {}}\nphases:\n  - {id: p, tasks: [{id: wait, run: 'sleep 60'}]}\n"
    )
    t = term(f"{PHASEGATE} run long.yaml", _env(tmp_path, NO_COLOR="1"))
    t.wait_for(lambda s: "running" in s and "q Quit" in s, "the run going")
    t.keys("q")
    t.wait_for(lambda s: "still going" in s, "the quit prompt")
    t.keys("C-s")
    screen = t.wait_for(lambda s: "EXITED=" in s, "phasegate to exit")
    assert "cancelled in" in screen and "ended;" not in screen, screen
    assert "EXITED=1" in screen, screen
