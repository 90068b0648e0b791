"""`{name}` substitution: known names replaced, `{{` `}}` literal braces, other braces kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.engine.plan.template import BUILTINS, names_in, substitute

VALUES = {"branch": "main", "jobs": "4", "task": "build"}


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("make BRANCH={branch} -j{jobs}", "make BRANCH=main -j4"),
        ("echo {task}", "echo build"),
        ("echo {unknown}", "echo {unknown}"),  # validation reports it; substitution leaves it
        ("echo {{branch}}", "echo {branch}"),
        ("echo {{ literal }}", "echo { literal }"),
        ("awk '{print $1}' f", "awk '{print $1}' f"),
        ("echo ${HOME} ${branch}", "echo ${HOME} ${branch}"),  # the shell's, not ours
        ("echo {a,b} {} {1x} { branch }", "echo {a,b} {} {1x} { branch }"),
        ("find . -exec rm {} +", "find . -exec rm {} +"),
        ("{branch}{branch}", "mainmain"),
        ("{{{branch}}}", "{main}"),
        ("no braces", "no braces"),
    ],
)
def test_substitute(text: str, result: str) -> None:
    assert substitute(text, VALUES) == result


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("make {branch} {jobs} {branch}", ["branch", "jobs", "branch"]),
        ("{{branch}} ${HOME} awk '{print $1}' {a,b} {} {1x}", []),
        ("{{{branch}}}", ["branch"]),
        ("x{_private9}y", ["_private9"]),
    ],
)
def test_names_in(text: str, names: list[str]) -> None:
    assert names_in(text) == names


def test_a_name_right_after_a_dollar_is_the_shells() -> None:
    assert names_in("echo ${branch} $ {branch}") == ["branch"]
    assert substitute("echo ${branch} $ {branch}", VALUES) == "echo ${branch} $ main"


def test_values_are_not_substituted_again() -> None:
    assert substitute("{a} {b}", {"a": "{b}", "b": "{{x}}"}) == "{b} {{x}}"


def test_builtins() -> None:
    assert set(BUILTINS) == {"current_date", "run_id", "workdir", "task"}


def escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
braces_text = st.text(alphabet=st.sampled_from("{}$ ab_1,\n'"), max_size=40) | st.text(max_size=40)


@given(braces_text)
def test_escaped_text_comes_back_as_written(text: str) -> None:
    """Doubling every brace is how to write any text literally: no names, same text back."""
    assert names_in(escape(text)) == []
    assert substitute(escape(text), {"a": "X", "b": "Y"}) == text


@given(braces_text.filter(lambda t: "{{" not in t and "}}" not in t))
def test_unknown_names_are_left_alone(text: str) -> None:
    assert substitute(text, {}) == text


@given(identifiers, st.text(max_size=20), braces_text)
def test_a_known_name_is_replaced_everywhere_it_is_named(name: str, value: str, rest: str) -> None:
    # (after a space: `${name}` right after a `$` is the shell's and left alone)
    text = escape(rest) + " {" + name + "}" + escape(rest) + " {" + name + "}"
    assert names_in(text) == [name, name]
    assert substitute(text, {name: value}) == f"{rest} {value}{rest} {value}"
