"""Attaching from a snapshot: the dashboard's feed starts at the newest snapshot of the fold and
shows the same run (state and risk feed) as a feed that folded every event."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import snapshot
from phasegate.engine.model.fold import project
from phasegate.tui.dashboard.feed import RunFeed
from tests.fixtures import fixture_db

RECORDING = Path(__file__).parent / "data" / "delivery.jsonl"
FAILED = Path(__file__).parents[1] / "store" / "data" / "failed_delivery_run.jsonl"


@pytest.mark.parametrize("recording", [RECORDING, FAILED], ids=["delivery", "failed"])
@pytest.mark.parametrize("where", [0.3, 0.6, 1.0])
async def test_a_feed_from_a_snapshot_shows_what_a_whole_fold_shows(
    tmp_path: Path, recording: Path, where: float
) -> None:
    store = await fixture_db(tmp_path / "pg.db", recording)
    try:
        run_id = (await store.run_ids())[0]
        whole = RunFeed(store, run_id)
        await whole.drain()
        events = await store.read_events(run_id)
        cut = events[max(0, int(len(events) * where) - 1)][0]
        state = project(e for s, e in events if s <= cut)
        await store.save_snapshot(run_id, cut, snapshot.snapshot_format(), snapshot.dump(state))
        fast = RunFeed(store, run_id)
        changes = await fast.drain()
        assert fast.state == whole.state == project(e for _, e in events)
        assert fast.risks == whole.risks and fast.risks
        assert changes.tasks == set(whole.state.tasks) and changes.phases and changes.agents
        # and it goes on from there like the other
        assert not await fast.drain() and not await whole.drain()
    finally:
        await store.close()


async def test_answers_given_before_a_dashboard_opened_are_history_not_news(tmp_path: Path) -> None:
    # (attach toasted every pause, cancel and retry the run had ever been given)
    from phasegate.engine.model import events as ev

    store = await fixture_db(tmp_path / "pg.db", RECORDING)
    try:
        run_id = (await store.run_ids())[0]
        seq = (await store.read_events(run_id))[-1][0]
        old = ev.CommandDone(1.0, 1, "pause", "alice", True, "paused")
        await store.write_batch(run_id, [(seq + 1, old)])
        feed = RunFeed(store, run_id)
        assert (await feed.drain()).answers == []
        new = ev.CommandDone(2.0, 2, "resume", "bob", True, "resumed")
        await store.write_batch(run_id, [(seq + 2, new)])
        assert (await feed.drain()).answers == [new]
    finally:
        await store.close()


async def test_a_snapshot_keeps_what_json_cannot_and_a_damaged_one_is_passed_over(
    tmp_path: Path,
) -> None:
    """A cost a CLI reported as NaN, an infinite extension of a budget: a snapshot reads them
    back as they were (JSON has neither). A damaged snapshot is not read: the run is folded from
    its first event, by `runs`, `show`, `resume` and the dashboard alike."""
    import math

    from phasegate.engine.model.snapshot import fold_run

    store = await fixture_db(tmp_path / "pg.db", RECORDING)
    try:
        run_id = (await store.run_ids())[0]
        events = await store.read_events(run_id)
        state = project(e for _, e in events)
        state.usage["cost_usd"] = math.nan
        state.budget_extra["run"] = {"usd": math.inf}
        back = snapshot.load(snapshot.dump(state))
        assert math.isnan(back.usage["cost_usd"]) and back.budget_extra == {
            "run": {"usd": math.inf}
        }
        cut = events[len(events) // 2][0]
        await store.save_snapshot(run_id, cut, snapshot.snapshot_format(), b"\xc1 damaged")
        folded, last = await fold_run(store, run_id)
        assert folded == project(e for _, e in events) and last == events[-1][0]
        feed = RunFeed(store, run_id)
        await feed.drain()
        assert feed.state == folded
    finally:
        await store.close()
