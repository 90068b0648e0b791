"""A declared secret is found whatever whitespace splits it (regression: a coding agent's
transcript joined a folded value with spaces, indented the model's lines, and a plain task's
indented second piece went by `Redactor.across`, which joined held lines as they were): each
piece is replaced, the whitespace around it kept, and the search stays linear."""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

import pytest

from phasegate.engine.model.secrets import REDACTED, LineWindow, Redactor
from tests.engine.helpers import run_plan

KEY = "zq9XvB7mLk2PpR4tYw8N"
MARK = "«TOKEN»"


def pieces_of(text: str, size: int = 6) -> list[str]:
    """The pieces of KEY (of `size` characters) that `text` still holds."""
    return [KEY[i : i + size] for i in range(len(KEY) - size + 1) if KEY[i : i + size] in text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("← zq9XvB7 mLk2PpR 4tYw8N", f"← {MARK}"),  # (lines joined with spaces)
        ("split: zq9XvB7mLk\n2PpR4tYw8N", f"split: {MARK}\n{MARK}"),
        ("  split: zq9XvB7mLk\n  2PpR4tYw8N\n", f"  split: {MARK}\n  {MARK}\n"),
        ("zq9XvB7\nmLk2PpR\n4tYw8N\n", f"{MARK}\n{MARK}\n{MARK}\n"),
        ("a\tzq9XvB7mLk2PpR4tYw8N b", f"a\t{MARK} b"),
        ("zq9XvB7mLk2PpR4tYw8", "zq9XvB7mLk2PpR4tYw8"),  # (not all of it: no secret)
        ("zq9XvB7-mLk2PpR4tYw8N", "zq9XvB7-mLk2PpR4tYw8N"),  # (not whitespace between)
    ],
)
def test_a_declared_value_split_by_whitespace_is_replaced_piece_by_piece(
    text: str, expected: str
) -> None:
    assert Redactor({"TOKEN": KEY}).text(text) == expected


def test_a_value_holding_another_is_replaced_whole_and_shapes_are_left_to_their_pass() -> None:
    red = Redactor({"SHORT": KEY[:10], "TOKEN": KEY}, shapes=False)
    assert red.text(f"{KEY[:10]} and {KEY[:10]}\n  {KEY[10:]}") == f"«SHORT» and {MARK}\n  {MARK}"
    shaped = "sk-" + "aB3" * 10
    assert red.text(shaped) == shaped  # (no shapes: the run's redactor takes them)
    assert Redactor({"TOKEN": KEY}).text(shaped) == REDACTED


def test_a_plain_tasks_indented_second_piece_is_replaced() -> None:
    # printf 'x  zq9XvB7mLk\n  2PpR4tYw8N\n': the old `across` joined "zq9XvB7mLk  2PpR..."
    window = LineWindow(Redactor({"TOKEN": KEY}))
    kept = window.push("x  zq9XvB7mLk") + window.push("  2PpR4tYw8N") + window.flush()
    assert kept == [f"x  {MARK}", f"  {MARK}"]


def test_a_value_folded_into_indented_one_character_lines_is_held_until_whole() -> None:
    window = LineWindow(Redactor({"TOKEN": KEY}))
    lines = ["start", *(f"    {c}" for c in KEY), "end"]
    kept = [out for line in lines for out in window.push(line)] + window.flush()
    assert kept == ["start", *[f"    {MARK}"] * len(KEY), "end"]


def test_blank_lines_are_not_held_for_ever() -> None:
    window = LineWindow(Redactor({"TOKEN": KEY}))
    released = [out for _ in range(1000) for out in window.push("")]
    assert len(released) >= 1000 - len(KEY) - 1  # (as many held as a secret has characters)


async def test_a_run_keeps_no_piece_of_a_secret_printed_indented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_TEST_TOKEN", KEY)
    state, store = await run_plan(
        tmp_path,
        """
        name: spread
        secrets: {TOKEN: {env: PG_TEST_TOKEN}}
        agents: {w: {}}
        phases:
          - id: p
            tasks:
              - id: t
                secrets: [TOKEN]
                run: >-
                  printf 'x  %s\\n  %s\\n'
                  "$(echo $TOKEN | cut -c1-10)" "$(echo $TOKEN | cut -c11-)"
        """,
    )
    assert state.status.value == "succeeded"
    lines = [line.text for line in await store.read_output("run1", "t")]
    assert lines == [f"x  {MARK}", f"  {MARK}"]


@pytest.mark.timeout(20)
def test_the_search_is_linear_in_the_texts_length() -> None:
    rng = random.Random(3)
    words = ["".join(rng.choice(string.ascii_letters) for _ in range(7)) for _ in range(100_000)]
    spread = " ".join(KEY[i : i + 4] for i in range(0, len(KEY), 4))
    text = " ".join(words) + f"\n  {spread}\n" + KEY[:-1] * 20_000  # (near misses: 400 kB)
    red = Redactor({"TOKEN": KEY, "OTHER": "Qw8" + "e" * 40})
    began = time.monotonic()
    out = red.text(text)
    lines = LineWindow(red)
    kept = [x for line in text.split(" ") for x in lines.push(line)] + lines.flush()
    assert time.monotonic() - began < 5  # (quadratic: minutes)
    assert not pieces_of(out.split("\n")[1]) and MARK in out
    assert len(kept) == len(text.split(" "))
