"""A malformed `agents:` is reported once, where it is: not again by every task that names one
of its agents ("agent 'r1' is not defined", "no agent has capability ...", "agent 'r1' runs
commands"), which buried the one mistake under follow-on problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file

from .helpers import write_plan

TASKS = """
phases:
  - id: one
    tasks:
      - {id: a, run: "true", agent: r1}
      - {id: b, prompt: "fix it", agent: r2}
      - {id: c, run: "true", capability: build}
"""


def _said(tmp_path: Path, agents: str) -> list[str]:
    found = validate_file(str(write_plan(tmp_path, f"name: p\n{agents}{TASKS}")))
    return [f"{p.line}: {p.key}: {p.message}" for p in found]


@pytest.mark.parametrize(
    ("agents", "said"),
    [
        (
            "agents:\n  - r1: {}\n  - r2: {kind: claude, capabilities: [build]}\n",
            "3: agents: must be a mapping of `key: value` lines, got a list [{'r1': {}}, "
            "{'r2': {...}}]; write its entries without the '- ' (they are not a list)",
        ),
        (  # (entries of several keys each: no hint, which would make agents of their keys)
            "agents:\n  - {name: r1, kind: claude}\n  - {name: r2, kind: claude}\n",
            "3: agents: must be a mapping of `key: value` lines, got a list [{'kind': 'claude', "
            "'name': 'r1'}, {'kind': 'claude', 'na...",
        ),
        ("agents: r1\n", "2: agents: must be a mapping of `key: value` lines, got text 'r1'"),
        ("agents: {}\n", "2: agents: must not be empty; define at least one agent"),
        ("", "1: agents: is required; add `agents:`, with at least one agent"),
    ],
    ids=["a list", "a list of several keys", "a word", "empty", "missing"],
)
def test_agents_that_are_no_mapping_are_one_problem(tmp_path: Path, agents: str, said: str) -> None:
    assert _said(tmp_path, agents) == [said]


def test_an_agent_of_the_wrong_type_is_one_problem(tmp_path: Path) -> None:
    agents = "agents:\n  r1: {capabilities: [build]}\n  r2: a coding agent\n"
    assert _said(tmp_path, agents) == [
        "4: agents.r2: must be a mapping of `key: value` lines, got text 'a coding agent'"
    ]


def test_capabilities_of_the_wrong_type_are_one_problem(tmp_path: Path) -> None:
    agents = "agents:\n  r1: {capabilities: build}\n  r2: {kind: claude}\n"
    assert _said(tmp_path, agents) == [
        "3: agents.r1.capabilities: must be a list, got text 'build'; write [build]"
    ]


def test_references_are_still_checked_when_the_agents_are_well_formed(tmp_path: Path) -> None:
    agents = "agents:\n  r1: {capabilities: [test]}\n  r3: {kind: claude}\n"
    said = _said(tmp_path, agents)
    assert [s.split(": ")[1] for s in said] == [
        "phases[0].tasks[1].agent",
        "phases[0].tasks[2].capability",
    ], said
    assert "agent 'r2' is not defined; defined agents: r1, r3" in said[0]
    assert "no agent has capability 'build'" in said[1]
    assert not any("runs commands" in s for s in said)  # (r2 is not defined: said once)
