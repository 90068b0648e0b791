"""Feedback text with control characters is shown escaped once by `feedback` and `show`, as
`audit` and the reports show it: they printed `'fb \\\\x1b[31mred'` (escaped, then quoted by
`repr()`, which doubled the backslash), a text nobody wrote."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import SQLiteStore
from phasegate.tui.cli.feedback import answer
from phasegate.tui.cli.views import show_run

PLAN = """\
name: fb
agents: {w: {}}
feedback: {at: end}
phases:
  - {id: p, tasks: [{id: t, run: "true", agent: w}]}
"""


async def test_feedback_is_shown_escaped_once(tmp_path: Path) -> None:
    (tmp_path / "fb.yaml").write_text(PLAN)
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    try:
        await Runner(
            load_plan(str(tmp_path / "fb.yaml")), store, "run1", run_dir=str(tmp_path)
        ).run()
    finally:
        await store.close()
    said = await answer(db, "run1", 2, "fb \x1b[31mred C:\\dir", {})
    assert said.endswith(" kept (rating 2/5, 'fb \\x1b[31mred C:\\dir'); thank you"), said
    shown = await show_run(db, "run1", as_json=False)
    (line,) = [x for x in shown.splitlines() if x.startswith("  feedback ")]
    assert ": 2/5 'fb \\x1b[31mred C:\\dir' (" in line, line
    assert "\x1b" not in shown


def test_quoted_text_stays_on_one_line_and_picks_its_quotes() -> None:
    from phasegate.tui.text import quoted

    assert quoted("it's") == '"it\'s"'
    assert quoted('say "hi" it\'s') == "'say \"hi\" it's'"
    assert quoted("a\nb\u202e") == "'a\\nb\\u202e'"
