"""A gate prompt follows the votes given elsewhere.

Regression: with quorum 2, after one approver approved (in her dashboard or from the command
line), a second person's open prompt still said "approvals 0/2" while the phase panel said 1/2:
the prompt's header was built once, when it opened.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import Static

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.gate import GatePrompt

from .helpers import SIZE, live_run, run_started, text, until_shown


async def _two_to_approve(db: str) -> str:
    now = time.time()
    gates = [{"id": "review", "after": "p", "approval": "manual", "approvers": [], "quorum": 2}]
    started = run_started(now, "gated", ["t"], agent="a", gates=gates)
    done = [ev.TaskStarted(now, "t", 1, "a", 1, 1), ev.TaskFinished(now, "t", 1, "succeeded", 0)]
    opened = ev.GateOpened(now, "review", 1, [], "cd" * 32, "manual")
    return await live_run(db, "gated", [started, *done, opened])


async def _vote(db: str, run_id: str, user: str) -> None:
    store = await SQLiteStore.open(db)
    try:
        seq = (await store.read_events(run_id))[-1][0]
        vote = ev.GateVoted(time.time(), "review", "approve", user, 1000 + seq)
        await store.write_batch(run_id, [(seq + 1, vote)])
    finally:
        await store.close()


def _head(app: PhasegateApp) -> str:
    prompt = next(s for s in app.screen_stack if isinstance(s, GatePrompt))
    return text(prompt.query_one("#head", Static))


async def test_the_open_prompt_counts_a_vote_given_elsewhere(tmp_path: Path) -> None:
    db = f"{tmp_path}/g.db"
    run_id = await _two_to_approve(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the prompt", lambda: isinstance(app.screen, GatePrompt))
        assert "approvals 0/2" in _head(app)
        await _vote(db, run_id, "alice")
        await until_shown(pilot, "the vote in the prompt", lambda: "approvals 1/2" in _head(app))
        assert "alice" in _head(app)
        await pilot.press("a")  # (confirming her own approval: the count goes on following)
        await _vote(db, run_id, "bob")
        await until_shown(pilot, "the second vote", lambda: "approvals 2/2" in _head(app))
