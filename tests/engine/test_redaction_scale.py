"""Redaction is linear in a line's length (a regression: one line of base64 froze the engine for
minutes, each key-like piece copying the whole line and being checked against every place a
plan's name stood), and redacts exactly as the simple way it replaced did."""

from __future__ import annotations

import base64
import math
import random
import re
import string
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasegate.engine.model import secrets as sec
from phasegate.engine.model.secrets import REDACTED, Redactor, redact_shapes

B62 = string.ascii_letters + string.digits
NAME = "run-risk-assessment-of-release"  # (holds `sk-` and twenty more characters)


def _reference_random(token: str) -> bool:
    if not (
        any(c.isupper() for c in token)
        and any(c.islower() for c in token)
        and any(c.isdigit() for c in token)
    ):
        return False
    n = len(token)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(token).values())
    return entropy > sec.MIN_ENTROPY


def _reference_spans(text: str) -> list[tuple[int, int]]:
    found = []
    for m in sec._ANY.finditer(text):
        token = m.group(0)
        if sec._KNOWN.fullmatch(token) or _reference_random(token):
            found.append((m.start(), m.end()))
        else:
            found += [
                (m.start() + i.start(), m.start() + i.end()) for i in sec._KNOWN.finditer(token)
            ]
    return found


def reference(text: str, keep: set[str]) -> str:
    """The way it was done before: every place each name stands, each piece checked against
    them all, the text rebuilt for each piece (quadratic, and plainly right)."""
    names = []
    for n in keep:
        at = text.find(n)
        while at >= 0 and n:
            names.append((at, at + len(n)))
            at = text.find(n, at + 1)
    spans = [
        (a, b)
        for a, b in _reference_spans(text)
        if not any(lo <= a and b <= hi for lo, hi in names)
    ]
    for start, end in reversed(spans):
        text = text[:start] + REDACTED + text[end:]
    return text


def key(rng: random.Random, n: int = 40) -> str:
    return "aB3" + "".join(rng.choice(B62) for _ in range(n))


@pytest.mark.timeout(20)  # (the old code: over a minute; now well under a second)
def test_a_line_of_many_keys_and_names_is_redacted_in_one_pass() -> None:
    rng = random.Random(7)
    keys = [key(rng) for _ in range(20_000)]
    line = "".join(f"{NAME} {k} " for k in keys)  # (1.5 MB: 20,000 keys, 20,000 names)
    red = Redactor(keep={NAME, "a", "sk-release-notes-for-every-customer"})
    assert red.text(line) == f"{NAME} {REDACTED} " * len(keys)


@pytest.mark.timeout(20)  # (the old code: tens of seconds and gigabytes for the name `a`)
def test_a_long_run_of_a_one_letter_name_is_looked_at_once() -> None:
    line = "a" * 10_000_000
    assert Redactor(keep={"a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}).text(line) == line


@pytest.mark.timeout(20)  # (the old code: minutes, for the base64 of a few megabytes)
def test_megabytes_of_base64_on_one_line_are_redacted_piece_by_piece() -> None:
    rng = random.Random(11)
    line = base64.b64encode(rng.randbytes(3_000_000)).decode()
    out = Redactor(keep={"builder", "blob"}).text(line)
    # every piece between two `/` of 32 characters or more that looks random is gone, the
    # rest is kept as it was
    pieces = re.split(r"(/)", line)
    assert out.count(REDACTED) > 10_000
    assert "".join(REDACTED if sec.looks_like_key(p) and len(p) >= 32 else p for p in pieces) == out


FRAGMENTS = [
    "sk-",
    "sk-ant-",
    "ghp_",
    "github_pat_",
    "AKIA",
    "eyJ",
    ".",
    "=",
    "==",
    "/",
    " ",
    "-",
    "_",
    "+",
    "aB3xQ9zLm2Wv8Rt5Yk1Pn7Hd4Gf6Js0Ec",  # (random enough: a long random string)
    "0123456789abcdef0123456789abcdef",
    NAME,
]
texts = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(B62 + "-_+=./ ", min_size=1, max_size=40),
    ),
    max_size=16,
).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, data=st.data())
def test_redaction_is_what_the_simple_way_gives(text: str, data: st.DataObject) -> None:
    keep = set(data.draw(st.lists(st.sampled_from([NAME, "a", "sk-", ""]), max_size=3)))
    for _ in range(data.draw(st.integers(0, 3))):  # names that stand in the text
        if text:
            a = data.draw(st.integers(0, len(text) - 1))
            b = data.draw(st.integers(a, min(len(text), a + 60)))
            keep.add(text[a:b])
    assert redact_shapes(text, keep) == reference(text, keep)
    assert redact_shapes(text) == reference(text, set())
