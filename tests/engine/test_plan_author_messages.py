"""Words of `validate` for mistakes a new plan author makes: a wrong key or value under
`risks.actions` names what is allowed and what was written (a key was said to be "text", which
it is), with a did-you-mean; a tab that breaks the indentation is called a tab in the
indentation (it was libyaml's words); an id, a variable or a secret with a letter outside
ASCII is told that only ASCII letters are allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file

from .helpers import write_plan


def _said(tmp_path: Path, text: str) -> list[str]:
    found = validate_file(str(write_plan(tmp_path, text)))
    assert found and not any(p.warning for p in found), found
    return [f"{p.line}: {p.key}: {p.message}" for p in found]


def _actions(actions: str) -> str:
    return (
        "name: p\nagents: {a: {}}\nrisks:\n"
        f"  actions: {actions}\n"
        'phases:\n  - id: one\n    tasks: [{id: t, run: "true"}]\n'
    )


def test_an_unknown_rule_under_actions_is_an_unknown_key(tmp_path: Path) -> None:
    [said] = _said(tmp_path, _actions("{task_overran: pause}"))
    assert said.startswith(
        "4: risks.actions.task_overran: unknown key 'task_overran'; did you mean "
        "'task_overrun'? allowed: task_overrun, silent_agent, "
    )
    assert "got text" not in said


def test_a_misspelt_action_gets_a_did_you_mean(tmp_path: Path) -> None:
    [said] = _said(tmp_path, _actions("{task_overrun: paus}"))
    assert said == (
        "4: risks.actions.task_overrun: got text 'paus' (did you mean 'pause'?); "
        "allowed: notify, pause, reduce_slots, ask or {fallback: TASK}"
    )


@pytest.mark.parametrize("actions", ["pause", "[pause]"])
def test_actions_not_a_mapping_shows_how_to_write_them(tmp_path: Path, actions: str) -> None:
    [said] = _said(tmp_path, _actions(actions))
    assert said.startswith("4: risks.actions: must be a mapping of `key: value` lines, got ")
    assert said.endswith("; e.g. `actions: {task_overrun: pause, silent_agent: {fallback: TASK}}`")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # a tab after spaces, inside a task's mapping (libyaml: "violates indentation")
        (
            "name: p\nagents: {a: {}}\nphases:\n  - id: one\n    tasks:\n    - id: t\n"
            "    \trun: x\n",
            7,
        ),
        ("name: p\nagents:\n  a:\n    slots: 1\n\tkind: command\nphases: []\n", 5),
        # a tab alone at the start of a line (libyaml: "cannot start any token")
        ("name: p\nagents:\n\ta: {}\nphases: []\n", 3),
    ],
    ids=["after spaces in a task", "under an agent", "alone"],
)
def test_a_tab_in_the_indentation_is_named(tmp_path: Path, text: str, line: int) -> None:
    assert _said(tmp_path, text) == [
        f"{line}: : YAML syntax error: a tab character; indent with spaces, YAML does not allow "
        "tabs in indentation"
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            'name: p\nagents: {a: {}}\nphases:\n  - id: été\n    tasks: [{id: t, run: "true"}]\n',
            "4: phases[0].id: 'été' is not a valid id; use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_' (ASCII letters only: a-z, A-Z)",
        ),
        (
            'name: p\nagents: {bü: {}}\nphases:\n  - id: one\n    tasks: [{id: t, run: "true"}]\n',
            "2: agents.bü: 'bü' is not a valid name; use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_' (ASCII letters only: a-z, A-Z)",
        ),
        (
            "name: p\nvars: {café: x}\nagents: {a: {}}\n"
            'phases:\n  - id: one\n    tasks: [{id: t, run: "true"}]\n',
            "2: vars.café: variable name 'café' cannot be used as {café}; use letters, digits "
            "and '_', not starting with a digit (ASCII letters only: a-z, A-Z)",
        ),
        (
            "name: p\nsecrets: {CLÉ: {env: PATH}}\nagents: {a: {}}\n"
            'phases:\n  - id: one\n    tasks: [{id: t, run: "true"}]\n',
            "2: secrets.CLÉ: 'CLÉ' is not a valid secret name; use letters, digits and '_', "
            "starting with a letter or '_' (ASCII letters only: a-z, A-Z)",
        ),
    ],
    ids=["phase id", "agent name", "variable", "secret"],
)
def test_a_name_with_a_letter_outside_ascii_is_told_ascii(
    tmp_path: Path, text: str, said: str
) -> None:
    assert _said(tmp_path, text) == [said]
