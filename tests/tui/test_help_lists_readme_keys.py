"""`?` lists every key of the README's key table ("| key | does |"), each entry on a row of its
own: the same keys (a row may name more), and for a prompt's keys ("in a gate prompt", "in a
risk's question", "in a ... permission prompt") the same prompt.

Regression: `?` left out the risk question's `a`/`r`, `ctrl+q`, and `/` (search) in the task's
output view."""

from __future__ import annotations

import re
from pathlib import Path

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.help import HelpScreen

from .helpers import SIZE, dashboard, text

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_keys() -> list[tuple[frozenset[str], str]]:
    """The README's key table: each row's keys (what it puts in backquotes), what it does."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| key | does |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        key, does = (cell.strip() for cell in line.strip().strip("|").split("|", 1))
        rows.append((frozenset(re.findall(r"`([^`]+)`", key)), does))
    assert len(rows) >= 20, rows
    return rows


def help_tokens(key: str) -> frozenset[str]:
    """`tab / shift+tab` -> {tab, shift+tab}; `/ in the output` -> {/, in, the, output}."""
    words = [w for w in re.split(r"[\s,]+", key) if w]
    return frozenset(w for i, w in enumerate(words) if w != "/" or i == 0)


def prompt_of(does: str) -> str | None:
    """`in a coding agent's permission prompt (...)` -> `permission`."""
    found = re.match(r"in a (?:[\w ]+?'s )?(\w+)", does)
    return found.group(1) if found else None


def fits(readme: tuple[frozenset[str], str], shown: tuple[str, str]) -> bool:
    keys, does = readme
    prompt = prompt_of(does)
    return keys <= help_tokens(shown[0]) and (prompt is None or prompt in shown[1])


def matched(
    readme: list[tuple[frozenset[str], str]], shown: list[tuple[str, str]]
) -> dict[int, int]:
    """Each README row on a help row of its own (a bipartite matching, by augmenting paths)."""
    owner: dict[int, int] = {}  # help row -> README row

    def place(r: int, seen: set[int]) -> bool:
        for h, row in enumerate(shown):
            if h in seen or not fits(readme[r], row):
                continue
            seen.add(h)
            if h not in owner or place(owner[h], seen):
                owner[h] = r
                return True
        return False

    for r in range(len(readme)):
        place(r, set())
    return {r: h for h, r in owner.items()}


async def test_help_lists_every_key_of_the_readme(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        shown_rows = screen._keys
        drawn = "\n".join(text(s) for s in screen.query("Static"))
    readme = readme_keys()
    placed = matched(readme, shown_rows)
    missing = [f"{sorted(k)}: {d[:50]}" for i, (k, d) in enumerate(readme) if i not in placed]
    assert not missing, missing
    for key, does in shown_rows:  # (each row drawn: its key, the start of what it does)
        assert key in drawn, key
        assert does.split(" ", 1)[0] in drawn, does
    for key in ("ctrl+q", "risk's question", "/ in the output"):
        assert key in drawn, key
