"""Untrusted text (a plan's name, a task's output, a value in an error) never reaches a terminal
as escapes, control or bidi characters: every command shows them as visible escapes, and
`logs --raw` alone passes the output as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run

ESC, BEL, NUL, RLO = "\x1b", "\x07", "\x00", "\u202e"
PLAN = (
    'name: "evil\\e]0;pwned\\a\\e[2Jx\\u202e"\n'
    "agents: {w: {}}\n"
    "phases:\n"
    "  - id: one\n"
    "    tasks:\n"
    '      - {id: a, run: "printf \\"A\\\\033[31mred\\\\000nul\\\\342\\\\200\\\\256rtl\\\\n\\""}\n'
)


def _inert(text: str) -> bool:
    return not any(c in text for c in (ESC, BEL, NUL, RLO))


@pytest.mark.slow
def test_every_listing_shows_untrusted_text_inert(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    for args in (("runs",), ("show", "last"), ("logs", "last"), ("logs", "last", "a")):
        done = pg(*args)  # piped, as `| less -R` or `| tee` would be
        assert done.returncode == 0, done.stderr
        assert _inert(done.stdout + done.stderr), (args, done.stdout)
    assert "evil\\x1b]0;pwned\\x07\\x1b[2Jx\\u202e" in pg("runs").stdout
    assert "A\\x1b[31mred\\x00nul\\u202ertl" in pg("logs", "last", "a").stdout
    raw = pg("logs", "last", "a", "--raw").stdout
    assert f"A{ESC}[31mred{NUL}nul{RLO}rtl" in raw


def test_an_error_quoting_untrusted_text_shows_it_inert(pg: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("agents: {w: {}}", 'agents: {"w\\e[2J": {}}'))
    done = pg("validate", "bad.yaml")
    assert done.returncode == 2
    assert _inert(done.stdout + done.stderr), done.stdout + done.stderr
    done = pg("show", f"no{ESC}[2Jsuch")
    assert done.returncode == 2 and _inert(done.stderr), done.stderr
