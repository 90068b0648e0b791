"""A risk raised again while open (its severity changed, the figure it tells has doubled:
engine/watch/risks.py) replaces its row in the dashboard's risk feed: it is no risk that
cleared. One cleared and raised later keeps both rows. Live, and from a snapshot."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model import snapshot
from phasegate.engine.model.fold import project
from phasegate.tui.dashboard.feed import RunFeed
from tests.fixtures import fixture_db

RECORDING = Path(__file__).parent / "data" / "delivery.jsonl"
KEY = "task_overrun:t"


def _raised(ts: float, severity: str, said: str) -> ev.RiskRaised:
    return ev.RiskRaised(ts, KEY, "task_overrun", severity, "task t", said)


async def test_a_risk_said_again_replaces_its_row_and_one_that_cleared_keeps_it(
    tmp_path: Path,
) -> None:
    store = await fixture_db(tmp_path / "pg.db", RECORDING)
    try:
        run_id = (await store.run_ids())[0]
        seq = (await store.read_events(run_id))[-1][0]
        feed = RunFeed(store, run_id)
        await feed.drain()
        before = len(feed.risks)
        await store.write_batch(
            run_id,
            [
                (seq + 1, _raised(10.0, "medium", "running 2.0s")),
                (seq + 2, _raised(11.0, "high", "running 4.0s")),  # (said again, open)
            ],
        )
        await feed.drain()
        mine = [(r.severity, r.message.split(" →")[0]) for r in feed.risks if r.key == KEY]
        assert mine == [("high", "running 4.0s")] and len(feed.risks) == before + 1
        held = [r.cleared(feed.state) for r in feed.risks if r.key == KEY]
        assert held == [None]  # (it holds: no row of it reads "cleared")
        await store.write_batch(
            run_id,
            [
                (seq + 3, ev.RiskCleared(12.0, KEY, "it ended")),
                (seq + 4, _raised(13.0, "medium", "running 2.5s")),  # (a new raise)
            ],
        )
        await feed.drain()
        mine = [(r.severity, r.message.split(" →")[0]) for r in feed.risks if r.key == KEY]
        assert mine == [("high", "running 4.0s"), ("medium", "running 2.5s")]
        held = [r.cleared(feed.state) for r in feed.risks if r.key == KEY]
        assert held == ["", None]  # (the first cleared before the new raise, which holds)
        # a dashboard opened later, from a snapshot, shows the same rows
        events = await store.read_events(run_id)
        state = project(e for _, e in events)
        await store.save_snapshot(run_id, seq + 4, snapshot.snapshot_format(), snapshot.dump(state))
        later = RunFeed(store, run_id)
        await later.drain()
        assert list(later.risks) == list(feed.risks)
    finally:
        await store.close()
