"""The palette's "Amend the plan": the plan the run follows, opened in your editor ($VISUAL,
$EDITOR, else vi) with the dashboard suspended; what you save is checked and sent to the run's
engine as `phasegate amend` sends it, and its change gate opens (the dashboard's change prompt
shows the difference and the impact). An editor that cannot be started is named in the answer
(the dashboard goes on)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile

from textual.app import App, SuspendNotSupported

from phasegate.engine.model.commands import Amend
from phasegate.engine.model.errors import PlanError, Problem
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.text import one_line, quoted, safe


def editor() -> list[str]:
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


CHOSEN_BY = "$VISUAL, else $EDITOR, chooses it"


def _not_startable() -> str | None:
    """Why the editor cannot be started (its name, and what chooses it), before the dashboard
    gives it the terminal; None when it can be."""
    try:
        command = editor()
    except ValueError as exc:  # (unbalanced quotes)
        return _cannot_start("", safe(str(exc)).lower())
    if not command:
        return _cannot_start("", "its name is blank")
    name = command[0]
    if shutil.which(name) is None:
        is_file = os.sep in name and os.path.isfile(name)
        return _cannot_start(name, "is not executable" if is_file else "was not found")
    return None


def _cannot_start(name: str, why: str) -> str:
    """`the editor could not be started: 'nosuch-editor' was not found ($VISUAL, ...)`."""
    what = f"{quoted(name)} {why}" if name else why
    return f"the editor could not be started: {what} ({CHOSEN_BY}): nothing sent"


# An edit with problems is opened again with them as comments on top (as `kubectl edit` does),
# so that it is never lost; saved again unchanged, it is kept where the message says.
HEAD = "# phasegate: this plan has problems, so nothing was sent. Fix them and save to send it;"
HEAD_2 = "# save it unchanged (or quit) to stop: the edit is then kept in this file."
FOOT = "# ---- (the lines above go away when it is sent)"


def _with_problems(body: str, problems: list[Problem]) -> str:
    """The edit with its problems as comments on top (their lines: of the file so shown)."""
    shown = problems[:20]
    skip = 3 + len(shown) + (len(problems) > len(shown))  # (the head's lines)
    lines = [HEAD, HEAD_2]
    for p in shown:
        where = f"line {p.line + skip}: " if p.line else ""
        key = f"{p.key}: " if p.key else ""
        lines.append("#   " + one_line(f"{where}{key}{p.message}"))
    if len(problems) > len(shown):
        lines.append(f"#   ... and {len(problems) - len(shown)} more")
    return "\n".join([*lines, FOOT, body])


def _body(text: str) -> str:
    """The edit without the comments `_with_problems` put on top of it."""
    if text.startswith(HEAD) and f"\n{FOOT}\n" in text:
        return text.split(f"\n{FOOT}\n", 1)[1]
    return text


def _edit(app: App[object], path: str) -> int:
    """The editor's exit status; OSError when it could not be started, raised once the
    dashboard has the terminal again (Textual's suspend does not give it back on an error)."""
    command = [*editor(), path]
    failed: OSError | None = None
    try:
        with app.suspend():  # (the editor has the terminal)
            try:
                return subprocess.run(command, check=False).returncode
            except OSError as exc:
                failed = exc
    except SuspendNotSupported:  # (no terminal to give: an editor that needs none)
        return subprocess.run(command, check=False).returncode
    assert failed is not None
    raise failed


async def amend_in_editor(app: App[object], feed: RunFeed) -> str:
    """Edit the run's plan and propose it; what to tell the user. An edit with problems opens
    again with them on top; given up on, it is kept in its file, which the answer names."""
    # (here: the plan model costs the dashboard's start-up about 100 ms, and only this needs it)
    from phasegate.engine.client.plans import plan_from_text, read_text

    saved = await feed.store.load_plan(feed.run_id)
    if saved is None:
        return "this run kept no plan text to amend"
    missing = _not_startable()
    if missing is not None:
        return missing
    text, variables = saved
    fd, path = tempfile.mkstemp(prefix=f"phasegate-amend-{feed.run_id}-", suffix=".yaml")
    keep = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        flagged: str | None = None  # (the edit last shown with its problems)
        while True:
            try:
                code = _edit(app, path)
            except OSError as exc:  # (found, yet not started: not executable, ...)
                kept = ""
                if flagged is not None:  # (an edit already made: kept, never lost)
                    keep = True
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(flagged)
                    kept = f"; your edit is kept in {safe(path)}"
                name = editor()[0]
                return _cannot_start(name, safe(exc.strerror or str(exc))) + kept
            read, problems = read_text(path)
            new = _body(read)
            if code != 0 and flagged is None:
                return f"the editor exited with {code}: nothing sent"
            if not problems and new == text:
                return "the plan is unchanged: nothing sent"
            if not problems:
                base = os.path.dirname(os.path.abspath(feed.state.plan_path or path))
                try:
                    plan_from_text(new, feed.state.plan_path or path, base, list(variables))
                except PlanError as exc:
                    problems = [p for p in exc.problems if not p.warning] or exc.problems
            if not problems:
                break
            if code != 0 or new == flagged:  # (given up on: kept, never lost)
                keep = True
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
                return (  # (the file first: the problems may be long)
                    f"the plan has problems, nothing sent: your edit is kept in {safe(path)}; "
                    + safe("; ".join(p.message for p in problems[:3]))
                )
            flagged = new
            with open(path, "w", encoding="utf-8") as f:
                f.write(_with_problems(new, problems))
    finally:
        if not keep:
            os.unlink(path)
    why = await feed.send(Amend(new, feed.state.plan_path or path, ""))
    if why is None:
        return "the amendment is sent: its change gate opens"
    return safe(why)
