"""The palette's "Amend the plan" never loses an edit that has problems: it opens again in the
editor with the problems as comments on top (as `kubectl edit` does); fixed, it is sent without
them; saved unchanged, it is kept in its file and the message names that file. (It said `the
plan has problems, nothing sent` and deleted the edit.)"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.app import App

from phasegate.engine.model.commands import Amend
from phasegate.tui.dashboard.amend import amend_in_editor

PLAN = """name: steer
agents: {a: {}}
phases:
  - id: build
    tasks: [{id: t, run: "true"}]
"""
# 1st opening: a new task, and a typo (`agnet`); then the script the test gives for the 2nd
EDIT = 'sed -i \'s/tasks: \\[{id: t, run: "true"}\\]/tasks: [{id: t, run: "true"}, {id: u, run: "true", agnet: a}]/\' "$1"'  # noqa: E501


class _Store:
    async def load_plan(self, run_id: str) -> tuple[str, dict[str, str]]:
        return PLAN, {}


class _Feed(SimpleNamespace):
    async def send(self, order: Amend) -> str | None:
        self.sent.append(order)
        return None


async def _amend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: str) -> tuple[str, _Feed]:
    shown = tmp_path / "shown"
    edit = tmp_path / "edit.sh"
    edit.write_text(
        "#!/bin/sh\n"
        f'if [ ! -e "{tmp_path}/once" ]; then touch "{tmp_path}/once"; {EDIT}; exit 0; fi\n'
        f'cp "$1" "{shown}"\n{second}\n'
    )
    edit.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(edit))
    monkeypatch.delenv("VISUAL", raising=False)
    feed = _Feed(store=_Store(), run_id="r1", state=SimpleNamespace(plan_path=""), sent=[])
    app: App[object] = App()
    async with app.run_test():
        told = await amend_in_editor(app, feed)  # type: ignore[arg-type]
    assert shown.exists(), "the editor was not opened again"
    head = shown.read_text().split("\n")
    assert head[0].startswith("# phasegate: this plan has problems")
    assert any("agnet" in line for line in head if line.startswith("#")), head
    return told, feed


async def test_an_edit_with_problems_saved_unchanged_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    told, feed = await _amend(tmp_path, monkeypatch, "exit 0")
    assert feed.sent == []
    assert told.startswith("the plan has problems, nothing sent: your edit is kept in "), told
    assert "unknown key 'agnet'; did you mean 'agent'?" in told, told
    found = re.search(r"your edit is kept in (\S+\.yaml); ", told)
    assert found is not None, told
    kept = Path(found.group(1))
    assert '{id: u, run: "true", agnet: a}' in kept.read_text()  # (the edit, as it was)
    assert not kept.read_text().startswith("#")
    os.unlink(kept)


async def test_an_edit_fixed_on_its_second_opening_is_sent_without_the_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    told, feed = await _amend(tmp_path, monkeypatch, "sed -i 's/agnet/agent/' \"$1\"")
    assert told == "the amendment is sent: its change gate opens"
    [order] = feed.sent
    assert order.text == PLAN.replace(
        '[{id: t, run: "true"}]', '[{id: t, run: "true"}, {id: u, run: "true", agent: a}]'
    )
