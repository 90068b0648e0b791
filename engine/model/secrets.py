"""Keeping secrets out of what a run stores and shows: the known shapes of API keys and tokens,
and the `Redactor` the engine passes every event and output line through before it is stored.

A declared secret's value becomes `«NAME»`; anything of a known key shape becomes `«redacted»`.
A declared value is found whatever whitespace stands between its characters (a value folded over
lines, its pieces indented, or joined with spaces): each piece of it is replaced, and the
whitespace around the pieces kept. The redactor sees one piece of text at a time (an event's
field, one output line, a coding agent's message); `LineWindow` holds a stream's last lines so
that a value printed across several of them is seen whole. Key shapes are found within one line.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from phasegate.engine.model.events import Event

REDACTED = "«redacted»"

# the shapes, most specific first (an `sk-ant-` key is also an `sk-` key)
SHAPES: tuple[tuple[str, str], ...] = (
    ("Anthropic API key", r"sk-ant-[A-Za-z0-9_\-]{20,}"),
    ("OpenAI-style API key", r"sk-[A-Za-z0-9_\-]{20,}"),
    ("GitHub token", r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"),
    ("AWS access key id", r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    ("JSON Web Token", r"eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
)
# a long run of key characters; a secret only if it also looks random (see `_random`)
_LONG = r"(?<![A-Za-z0-9+_\-])[A-Za-z0-9+_\-]{32,}={0,2}(?![A-Za-z0-9+_\-=])"
_KNOWN = re.compile("|".join(f"(?:{p})" for _, p in SHAPES))
_ANY = re.compile(f"(?:{_KNOWN.pattern})|(?:{_LONG})")
MIN_ENTROPY = 4.0  # bits a character; a hex digest (at most 4.0) or an identifier stays
_DIGIT = re.compile(r"[0-9]")
# the fewest characters a piece of a key's shape has (a JSON Web Token's `eyJxxxx.eyJxxxx.`);
# a name of the plan that holds such a piece holds its first GRAM characters
GRAM = 16


def _random(token: str) -> bool:
    """Does a long token look like a random key: upper and lower case letters and digits, and
    over MIN_ENTROPY bits a character (so hashes, UUIDs, identifiers and words are left)?"""
    # (the token is ASCII, of `_LONG`'s characters: C-level scans, a token may be megabytes)
    if token.lower() == token or token.upper() == token or _DIGIT.search(token) is None:
        return False
    n = len(token)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(token).values())
    return entropy > MIN_ENTROPY


def key_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, what) of each piece of `text` that has a known key shape."""
    for m in _ANY.finditer(text):
        token = m.group(0)
        if _KNOWN.fullmatch(token):
            kind = next(name for name, p in SHAPES if re.fullmatch(p, token))
            yield m.start(), m.end(), kind
        elif _random(token):
            yield m.start(), m.end(), "long random string"
        else:  # a shape may start inside a long token that is not random itself
            for inner in _KNOWN.finditer(token):
                kind = next(name for name, p in SHAPES if re.fullmatch(p, inner.group(0)))
                yield m.start() + inner.start(), m.start() + inner.end(), kind


def looks_like_key(text: str) -> str:
    """What kind of key `text` holds (`''` if none)."""
    return next((kind for _, _, kind in key_spans(text)), "")


def redact_shapes(text: str, keep: frozenset[str] | set[str] = frozenset()) -> str:
    """`text` with each piece of a key's shape replaced, except pieces within a name of `keep`
    where it stands in the text (`run-risk-assessment-of-release` holds `sk-` and twenty more
    characters: a task of that name is no key; the same characters printed elsewhere are).
    Linear in the text's length: a line of megabytes of base64 is one pass, built once."""
    spans = kept_out(text, keep)
    if not spans:
        return text
    return spliced(text, ((start, end, REDACTED) for start, end, _ in spans))


def kept_out(
    text: str, keep: frozenset[str] | set[str] = frozenset()
) -> list[tuple[int, int, str]]:
    """`key_spans` of `text`, less the pieces within a name of `keep` where it stands."""
    spans = list(key_spans(text))  # (in order, none overlapping)
    if spans and keep:
        names = _names(frozenset(keep))
        spans = [s for s in spans if not _within_name(text, s[0], s[1], names)]
    return spans


def spliced(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """`text` with each (start, end, replacement) put in, the spans in order and apart: built
    once (a line of megabytes with thousands of them is one pass)."""
    pieces: list[str] = []
    at = 0
    for start, end, new in spans:
        pieces += (text[at:start], new)
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


@functools.lru_cache(maxsize=8)
def _names(keep: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Each GRAM characters of a name of `keep` -> the names that hold them (a piece of a key's
    shape within a name starts with GRAM characters of it: one look-up per piece, however
    many names the plan has and however often they stand in the text)."""
    by_gram: dict[str, set[str]] = {}
    for name in keep:
        for at in range(len(name) - GRAM + 1):
            by_gram.setdefault(name[at : at + GRAM], set()).add(name)
    found = {gram: tuple(sorted(names)) for gram, names in by_gram.items()}
    found[""] = tuple(sorted(keep))  # (every name)
    return found


def _within_name(text: str, start: int, end: int, names: dict[str, tuple[str, ...]]) -> bool:
    """Does a name stand in `text` over all of `text[start:end]` (a piece of a key's shape)?"""
    short = end - start < GRAM  # (no shape is: then every name is looked at)
    for name in names[""] if short else names.get(text[start : start + GRAM], ()):
        size = len(name)
        # an occurrence at `at` holds the piece when end - size <= at <= start
        if size >= end - start and text.find(name, max(0, end - size), start + size) >= 0:
            return True
    return False


T = TypeVar("T")
_WORD = re.compile(r"\S+")  # (`\S` and `str.split` agree on what whitespace is)


_ESCAPED = re.compile(r"\\[ntr]")  # a line break or tab written as an escape: `printf 'a\nb'`


def unescaped(text: str) -> str:
    """`text` with each escape that stands for whitespace (`\n`, `\t`, `\r` as written in a
    command) made two spaces: of the same length, so that a place in one is a place in the
    other, and a value split by them is found as one split by whitespace."""
    return _ESCAPED.sub("  ", text) if "\\" in text else text


def squeezed(text: str) -> str:
    """`text` without its whitespace (nor the escapes that stand for it)."""
    return "".join(unescaped(text).split())


def spread_spans(text: str, keys: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """(start, end, mark) in `text` of each value of `keys` ((value without whitespace, mark),
    longest first), found with any whitespace between its characters: from its first character
    to its last, in order, none overlapping (a value that holds another is taken whole).
    Linear in the text's length: one pass to take out the whitespace, one search a value, and
    the places found mapped back through the text's words."""
    text = unescaped(text)  # (the same length: its places are the text's)
    flat = squeezed(text)
    found: list[tuple[int, int, str]] = []  # (start, end, mark) in `flat`
    for key, mark in keys:
        at = flat.find(key)
        if at < 0:
            continue
        pieces: list[str] = []
        cursor = 0
        while at >= 0:  # (non-overlapping, left to right: as str.replace takes them)
            found.append((at, at + len(key), mark))
            pieces += (flat[cursor:at], "\0" * len(key))  # (taken: no shorter value in it)
            cursor = at + len(key)
            at = flat.find(key, cursor)
        flat = "".join(pieces) + flat[cursor:]
    if not found:
        return []
    starts, flat_starts, size = [], [], 0  # each word's place in `text` and in `flat`
    for m in _WORD.finditer(text):
        starts.append(m.start())
        flat_starts.append(size)
        size += m.end() - m.start()

    def place(i: int) -> int:
        word = bisect.bisect_right(flat_starts, i) - 1
        return starts[word] + i - flat_starts[word]

    return sorted((place(a), place(b - 1) + 1, mark) for a, b, mark in found)


def marked(piece: str, mark: str) -> str:
    """A found value's `piece` of text, each line's part of it replaced by `mark` (the
    whitespace before and after that part kept: the transcript's lines stay as they were)."""
    lines = []
    for line in piece.split("\n"):
        core = line.strip()
        if core:
            lead = len(line) - len(line.lstrip())
            line = line[:lead] + mark + line[lead + len(core) :]
        lines.append(line)
    return "\n".join(lines)


class Redactor:
    """Replaces the values of declared secrets (`«NAME»`) and known key shapes (`«redacted»`)."""

    def __init__(
        self,
        values: Mapping[str, str] | None = None,
        keep: Iterable[str] = (),
        *,
        shapes: bool = True,
    ) -> None:
        """`values`: the declared secrets, by name; `keep`: names never taken for a key's shape
        (the plan's ids: a task `sk-...-of-twenty-characters` is a name, and the run needs it);
        `shapes`: False for one that replaces the declared values only (a coding agent's talk:
        the run's redactor, which knows the plan's names, takes the shapes after it)."""
        # longest first: a value that contains another is replaced whole
        self._values = sorted(
            ((v, f"«{name}»") for name, v in (values or {}).items() if v),
            key=lambda pair: -len(pair[0]),
        )
        # ... and as looked for: without whitespace (found whatever whitespace splits it)
        keys = ((squeezed(v), mark) for v, mark in self._values)
        self._keys = sorted(((k, m) for k, m in keys if k), key=lambda pair: -len(pair[0]))
        self.keep: set[str] = set(keep)
        self._shapes = shapes

    def text(self, text: str) -> str:
        if self._keys and self._holds_value(text):
            text = self._declared(text)
        if not self._shapes or _ANY.search(text) is None:  # (the common case: one C-level scan)
            return text
        return redact_shapes(text, self.keep)

    def _holds_value(self, text: str) -> bool:
        flat = squeezed(text)
        return any(key in flat for key, _ in self._keys)

    def _declared(self, text: str) -> str:
        """`text` with each declared value replaced, however whitespace splits it."""
        spans = spread_spans(text, self._keys)
        return spliced(text, ((a, b, marked(text[a:b], mark)) for a, b, mark in spans))

    @property
    def secrets(self) -> list[tuple[str, str]]:
        """(value, mark) of each declared secret, longest first."""
        return self._values

    @property
    def longest(self) -> int:
        """The most characters other than whitespace a declared value has."""
        return max((len(k) for k, _ in self._keys), default=0)

    def across(self, lines: list[str]) -> list[str]:
        """`lines` with every declared secret that runs over from one line into the next
        replaced, piece by piece, by its mark (a secret within one line is `text`'s); the
        whitespace at a line's end or start (an indented piece) does not hide it."""
        if len(lines) < 2 or not self._keys:
            return lines
        joined = "\n".join(lines)
        if not self._holds_value(joined):
            return lines
        cuts = spread_spans(joined, self._keys)  # (start, end, mark) in `joined`
        out, start = [], 0
        for line in lines:
            end, cursor = start + len(line), start
            pieces: list[str] = []
            for a, b, mark in cuts:
                if b <= start or a >= end or (a >= start and b <= end):
                    continue  # (not in this line, or whole in it: `text` takes it)
                lo, hi = max(a, start), min(b, end)
                pieces += [joined[cursor:lo], marked(joined[lo:hi], mark)]
                cursor = hi
            out.append("".join(pieces) + joined[cursor:end] if pieces else line)
            start = end + 1
        return out

    def value(self, value: T) -> T:
        """`value` with every text in it redacted (lists and dicts walked)."""
        if not self._keys and not self._shapes:
            return value
        if isinstance(value, str):
            return self.text(value)  # type: ignore[return-value]
        if isinstance(value, list):
            return [self.value(v) for v in value]  # type: ignore[return-value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}  # type: ignore[return-value]
        return value

    def event(self, event: Event) -> Event:
        """The event itself when nothing in it is secret, else a copy with its texts redacted."""
        texts: list[str] = []
        for name in event._fields:
            _texts(getattr(event, name), texts)
        if not texts:
            return event
        # (the common case: one scan of all its texts at once; NUL is in no value nor shape)
        joined = "\0".join(texts)
        shaped = self._shapes and _ANY.search(joined) is not None
        if not shaped and not (self._keys and self._holds_value(joined)):
            return event
        changed: dict[str, Any] = {}
        for name in event._fields:
            old = getattr(event, name)
            if isinstance(old, str | list | dict):
                new = self.value(old)
                if new != old:
                    changed[name] = new
        return event.replace(**changed) if changed else event


def _texts(value: object, into: list[str]) -> None:
    """The texts `Redactor.value` would look at in `value` (lists and dict values walked)."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, list):
        for v in value:
            _texts(v, into)
    elif isinstance(value, dict):
        for v in value.values():
            _texts(v, into)


class LineWindow:
    """One output stream's last lines, held until a declared secret printed across several of
    them (`fold`, a wrapped JSON string) can be seen whole: each piece of it is replaced, in
    every line it touches, before the lines are released to be kept. A line is released once
    the lines after it hold enough characters (whitespace aside) that no secret could start in
    it and end later, or as many lines as a secret has characters (blank lines between its
    pieces are not waited for), or when `flush` is called (the task ended, or a second passed:
    the live view waits no longer than that)."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._longest = redactor.longest
        self._held: list[str] = []
        self._sizes: list[int] = []  # each held line's characters but whitespace

    def push(self, line: str) -> list[str]:
        """Hold `line`; the lines now safe to keep, redacted, in order."""
        held = self._held
        held.append(line)
        self._sizes.append(len(squeezed(line)))
        if len(held) > 1:
            self._held = held = self._redactor.across(held)
        out: list[str] = []
        after = sum(self._sizes) - self._sizes[0]
        while len(held) > 1 and (after >= self._longest - 1 or len(held) > self._longest + 1):
            out.append(self._redactor.text(held.pop(0)))
            self._sizes.pop(0)
            after -= self._sizes[0]
        return out

    def flush(self) -> list[str]:
        out = [self._redactor.text(x) for x in self._held]
        self._held, self._sizes = [], []
        return out
