"""The palette's "Amend the plan": the plan the run follows, opened in your editor ($VISUAL,
$EDITOR, else vi) with the dashboard suspended; what you save is checked and sent to the run's
engine as `phasegate amend` sends it, and its change gate opens (the dashboard's change prompt
shows the difference and the impact)."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

from textual.app import App, SuspendNotSupported

from phasegate.engine.model.commands import Amend
from phasegate.engine.model.errors import PlanError
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.text import safe


def editor() -> list[str]:
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


async def amend_in_editor(app: App[object], feed: RunFeed) -> str:
    """Edit the run's plan and propose it; what to tell the user."""
    # (here: the plan model costs the dashboard's start-up about 100 ms, and only this needs it)
    from phasegate.engine.client.plans import plan_from_text, read_text

    saved = await feed.store.load_plan(feed.run_id)
    if saved is None:
        return "this run kept no plan text to amend"
    text, variables = saved
    fd, path = tempfile.mkstemp(prefix=f"phasegate-amend-{feed.run_id}-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            with app.suspend():  # (the editor has the terminal)
                done = subprocess.run([*editor(), path], check=False)
        except SuspendNotSupported:  # (no terminal to give: an editor that needs none)
            done = subprocess.run([*editor(), path], check=False)
        if done.returncode != 0:
            return f"the editor exited with {done.returncode}: nothing sent"
        new, problems = read_text(path)
        if not problems and new == text:
            return "the plan is unchanged: nothing sent"
        if problems:
            raise PlanError(problems)
        base = os.path.dirname(os.path.abspath(feed.state.plan_path or path))
        plan_from_text(new, feed.state.plan_path or path, base, list(variables))
    except PlanError as exc:
        return "the plan has problems, nothing sent: " + safe(
            "; ".join(p.message for p in exc.problems[:3])
        )
    finally:
        os.unlink(path)
    why = await feed.send(Amend(new, feed.state.plan_path or path, ""))
    if why is None:
        return "the amendment is sent: its change gate opens"
    return safe(why)
