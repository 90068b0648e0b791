"""`phasegate show RUN` into a pipe or a file keeps its metrics within 80 columns, on a second
line under the first where one does not hold them all (as in an 80-column terminal).

Regression: the metrics line was one line of 82 to 92 columns: it wrapped mid-word at 80."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.views import SHORT, show_run
from tests.fixtures import load_run, read_jsonl

RECORDING = Path(__file__).parent / "data" / "delivery.jsonl"


async def test_the_metrics_of_show_fit_80_columns(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    store = await SQLiteStore.open(db)
    try:
        run_id = await load_run(store, read_jsonl(RECORDING))
    finally:
        await store.close()
    shown = (await show_run(db, run_id, as_json=False)).splitlines()
    at = next(i for i, line in enumerate(shown) if line.startswith("  metrics  "))
    more = shown[at + 1].startswith(" " * 11)  # (its second line, under its first item)
    metrics = shown[at : at + 2] if more else shown[at : at + 1]
    assert all(len(line) <= 80 for line in metrics), metrics
    said = " ".join(metrics)
    for name in SHORT.values():  # (every metric, whole)
        assert f"{name} " in said, said
