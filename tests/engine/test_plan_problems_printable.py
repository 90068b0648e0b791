"""Plan problems are safe to print and say what they mean: a value of the plan that a problem
quotes shows its control and invisible characters as escapes (an escape sequence in a name must
not clear the screen or fake a line), the agents a message lists are the plan's names, and a
duration that is infinite, or a timebox of 0, is refused with words that say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file
from phasegate.engine.plan.messages import cut

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

ESC = "\x1b[2J\x1b[H\x1b[32mALL GOOD: inj.yaml ok\x1b[8m"
SHOWN = "\\x1b[2J\\x1b[H\\x1b[32mALL GOOD: inj.yaml ok\\x1b[8m"

INJECTED = r"""name: inj
agents:
  w: {command: "sh -c {script}"}
phases:
  - id: p
    tasks:
      - {id: t1, run: "true", agent: "\e[2J\e[H\e[32mALL GOOD: inj.yaml ok\e[8m"}
      - {id: t2, run: "true", agent: "w\u200b"}
      - {id: t3, run: "true", capability: "\e[31mRED", uses: {"\e[32mres": 1}}
      - {id: t4, run: "true", needs: "a\e[2Jb"}
gates:
  - id: g
    after: "\e[33mphase"
    approvers: ["bob\e[0m", "bob\e[0m"]
"""


def _write(tmp_path: Path, text: str, name: str = "plan.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _messages(path: str) -> dict[str, str]:
    return {p.key: p.message for p in validate_file(path) if not p.warning}


def test_every_value_a_problem_quotes_shows_its_control_characters_as_escapes(
    tmp_path: Path,
) -> None:
    said = _messages(_write(tmp_path, INJECTED))
    assert said["phases[0].tasks[0].agent"].startswith(f"agent '{SHOWN}' is not defined")
    # a zero-width space is seen, as `needs:` already showed it
    assert said["phases[0].tasks[1].agent"].startswith(
        "agent 'w\\u200b' is not defined (did you mean 'w'?)"
    )
    assert "capability '\\x1b[31mRED'" in said["phases[0].tasks[2].capability"]
    uses = next(m for k, m in said.items() if k.startswith("phases[0].tasks[2].uses."))
    assert "unknown resource '\\x1b[32mres'" in uses
    assert "write [a\\x1b[2Jb]" in said["phases[0].tasks[3].needs"]
    assert "gate after '\\x1b[33mphase'" in said["gates[0].after"]
    assert "approver 'bob\\x1b[0m' is listed twice" in said["gates[0].approvers[1]"]
    for message in said.values():
        assert message.isprintable(), message


def test_validate_and_run_print_no_escape_sequence_of_the_plan(tmp_path: Path) -> None:
    plan = _write(tmp_path, INJECTED)
    db = str(tmp_path / "x.db")
    for args in (["validate", plan], ["run", plan, "--headless", "--db", db]):
        done = subprocess.run(
            [PHASEGATE, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert done.returncode == 2, done.stderr
        assert "\x1b" not in done.stderr + done.stdout
        assert "\u200b" not in done.stderr + done.stdout
        # (not a line that says the plan is fine: the name, escaped, inside its problem)
        assert f"agent '{SHOWN}' is not defined; defined agents: w" in done.stderr
        assert "uses.\\x1b[32mres: unknown resource" in done.stderr


def test_a_long_value_is_cut_between_escapes_never_inside_one() -> None:
    said = cut("\x1b" * 40)
    assert said.endswith("...") and len(said) <= 60
    assert said[:-3] == "\\x1b" * ((60 - 3) // 4)
    assert cut("é日本 plain") == "é日本 plain"


def test_the_agents_listed_are_written_as_yaml_writes_them_not_as_python_values(
    tmp_path: Path,
) -> None:
    text = """name: p
agents:
  ~: {}
  yes: {}
  w: {}
  v: {}
phases:
  - id: a
    tasks:
      - {id: t, run: "true"}
"""
    said = _messages(_write(tmp_path, text))
    several = said["phases[0].tasks[0]"]
    assert "the plan has several agents (true, v, w, ~);" in several
    # each key YAML read as another value is named, on its line, and the rest still checked
    assert said["agents.~"].startswith("must be a name, got nothing")
    assert said["agents.yes"].startswith("must be a name, got true")


@pytest.mark.parametrize("value", ["inf", "nan", ".inf", ".nan", "-inf", "1e400"])
def test_an_infinite_duration_is_refused_as_not_finite(tmp_path: Path, value: str) -> None:
    text = f"""name: p
agents: {{w: {{}}}}
phases:
  - id: a
    timebox: {value}
    tasks:
      - {{id: t, run: "true"}}
"""
    said = _messages(_write(tmp_path, text))
    assert "it must be a finite number of seconds" in said["phases[0].timebox"]
    assert "zero or more" not in said["phases[0].timebox"]


def test_a_timebox_of_zero_is_refused_saying_how_to_have_none(tmp_path: Path) -> None:
    text = """name: p
agents: {w: {}}
phases:
  - id: a
    timebox: 0
    tasks:
      - {id: t, run: "true", timeout: 0}
  - id: b
    tasks:
      - {id: u, run: "true"}
"""
    said = _messages(_write(tmp_path, text))
    # (a timebox of 0 would be over as the phase starts: a high risk at once)
    assert list(said) == ["phases[0].timebox"]  # (`timeout: 0` is no timeout: still fine)
    assert said["phases[0].timebox"] == (
        "must be more than 0, got the number 0; "
        "leave `timebox` out (or null) for a phase with no time limit"
    )


def test_a_keys_control_characters_are_escaped_in_the_problems_path_too(tmp_path: Path) -> None:
    # (the path `uses.<key>` is written from the file's own key text: --json had it raw)
    from phasegate.engine.model.errors import PlanError
    from phasegate.engine.plan import load_plan

    plan = tmp_path / "p.yaml"
    plan.write_text(
        "name: k\nagents: {w: {}}\nphases:\n  - id: p\n    tasks:\n"
        '      - {id: t, run: "true", uses: {"\\e[32mres": 1}}\n'
    )
    try:
        load_plan(str(plan))
    except PlanError as exc:
        said = "\n".join(str(p) for p in exc.problems)
    else:
        raise AssertionError("a plan using an undeclared resource loaded")
    assert "\x1b" not in said and "\\x1b[32mres" in said, said
