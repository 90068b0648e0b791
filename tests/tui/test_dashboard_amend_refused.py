"""The palette's "Amend the plan" tells the engine's refusal once: the engine's answer to an
amendment it refuses says "refused:" already, and the dashboard said it twice."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.app import App

from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Amend
from phasegate.tui.dashboard import feed as feed_mod
from phasegate.tui.dashboard.amend import amend_in_editor
from phasegate.tui.dashboard.feed import RunFeed

PLAN = """name: steer
agents: {a: {}}
phases:
  - id: build
    tasks: [{id: t, run: "true"}]
"""
WHY = "gate 'ok' needs 2 approvals but only 1 of its approvers may give them (bob)"


class _Store:
    async def load_plan(self, run_id: str) -> tuple[str, dict[str, str]]:
        return PLAN, {}


class _Feed(SimpleNamespace):
    async def send(self, order: Amend) -> str | None:
        self.sent.append(order)
        return await RunFeed.send(self, order)  # type: ignore[arg-type]  # (its own words)


async def test_a_refused_amendment_is_told_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def deliver(*_: object) -> tuple[int, ev.Event]:  # the engine's answer, as it words it
        return 1, ev.CommandDone(0.0, 1, "amend", "root", False, f"refused: {WHY}")

    monkeypatch.setattr(feed_mod, "deliver", deliver)
    edit = tmp_path / "edit.sh"
    edit.write_text('#!/bin/sh\nsed -i \'s/run: "true"/run: "false"/\' "$1"\n')
    edit.chmod(0o755)
    feed = _Feed(
        store=_Store(),
        run_id="r1",
        state=SimpleNamespace(plan_path=""),
        sent=[],
        told=set(),
        _sending=0,
    )
    app: App[object] = App()
    was = os.environ.get("EDITOR")
    os.environ["EDITOR"] = str(edit)
    try:
        async with app.run_test():
            told = await amend_in_editor(app, feed)  # type: ignore[arg-type]
    finally:
        if was is None:
            del os.environ["EDITOR"]
        else:
            os.environ["EDITOR"] = was
    assert len(feed.sent) == 1
    assert told == f"refused: {WHY}"
