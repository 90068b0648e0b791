"""`{name}` substitution: known names replaced, `{{` `}}` literal braces, other braces kept."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.engine.exec.argv import command_argv
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


# -- values in commands a shell reads (vars cannot add shell syntax) ----------------------------

ATTACK = "hi; touch P1 $(touch P2)' ; touch P3; echo '"


@settings(max_examples=60, deadline=None)
@given(value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
@pytest.mark.parametrize(
    "template",
    [
        "printf '%s' {v}",  # no quotes in the plan
        "printf '%s' '{v}'",  # single quotes in the plan
        'printf "%s" "{v}"',  # double quotes in the plan
        "printf '%s' x{v}y | cat",  # inside a word, in a pipeline
    ],
)
def test_a_value_reaches_the_command_as_text_whatever_the_plan_quotes(
    template: str, value: str
) -> None:
    argv, _ = command_argv(template, {"v": value})
    done = subprocess.run(argv, capture_output=True, timeout=10)
    expected = ("x" + value + "y") if "x{v}y" in template else value
    assert done.stdout.decode("utf-8", "surrogateescape") == expected


def test_the_attack_string_creates_nothing(tmp_path: Path) -> None:
    for template in ("echo {m}", "echo '{m}'", 'echo "{m}"', "echo {m} > out"):
        argv, shown = command_argv(template, {"m": ATTACK})
        subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=10, check=True)
        assert not list(tmp_path.glob("P*")), (template, shown)


def test_a_plain_command_runs_directly_and_a_value_stays_one_argument() -> None:
    argv, shown = command_argv("grep -c {pattern} notes.txt", {"pattern": "a b; c"})
    assert argv == ["grep", "-c", "a b; c", "notes.txt"]
    assert shown == "grep -c 'a b; c' notes.txt"
    # the plan's own syntax decides: braces of an unknown name or `{{` need the shell
    assert command_argv("awk '{print $1}' f", {})[0][:2] == ["/bin/sh", "-c"]
    assert command_argv("true", {}) == (["true"], "true")
