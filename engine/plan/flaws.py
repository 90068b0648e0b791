"""What the semantic checks share: a problem found in a plan (`Flaw`, placed at its line
later), a set of names with did-you-mean hints (`Names`), the check of the `{names}` a text
uses (`unknown_names`), and tolerant accessors for raw parsed data."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from phasegate.engine.plan.messages import cut
from phasegate.engine.plan.model import ID_PATTERN
from phasegate.engine.plan.template import BUILTINS, names_in


class Flaw(NamedTuple):
    """One problem: where (a key path; the key itself when `key`), and what is wrong.

    `needle` is text of the value that the problem is about, to find its exact line in a
    multi-line value.
    """

    path: tuple[str | int, ...]
    key: bool
    message: str
    needle: str = ""


# did-you-mean compares a name with every candidate; over 10,000 task names and many mistakes
# that is slow, so hints stop after this many comparisons (the problems are all still reported)
HINT_BUDGET = 50_000

ID = re.compile(ID_PATTERN)


class Names:
    """A set of defined names, with a did-you-mean hint and a short listing for messages."""

    def __init__(self, names: Collection[str], budget: list[int]) -> None:
        self.names = names
        self._budget = budget
        self._listing: str | None = None
        self._choices: list[str] | None = None
        self._hints: dict[str, str] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def hint(self, name: str) -> str:
        if len(name) > 200:  # no id is that long; comparing it would be slow
            return ""
        if name in self._hints:
            return self._hints[name]
        if self._choices is None:
            self._choices = [str(n) for n in self.names]  # (YAML may have read `7:` as a number)
        if self._budget[0] < len(self._choices):
            return ""
        self._budget[0] -= len(self._choices)
        from phasegate.engine.plan.messages import closest  # (only for a plan with a mistake)

        found = closest(name, self._choices)
        hint = f" (did you mean '{cut(found)}'?)" if found else ""
        self._hints[name] = hint
        return hint

    def listing(self) -> str:
        if self._listing is None:
            names = sorted(_as_written(n) for n in self.names)
            more = f", ... ({len(names)} in all)" if len(names) > 20 else ""
            self._listing = (", ".join(names[:20]) + more) or "none"
        return self._listing


def _as_written(name: object) -> str:
    """A name as YAML writes it (a key YAML read as another value, `~:` or `yes:`, is not a
    Python `None` or `True` in a message), escaped and short (`messages.cut`)."""
    if name is None:
        return "~"
    if isinstance(name, bool):
        return "true" if name else "false"
    return cut(name)


def dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
        if isinstance(value, list)
        else []
    )


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def unknown_names(text: str, known: Names, path: tuple[str | int, ...]) -> Iterator[Flaw]:
    """A flaw at `path` for each `{name}` in `text` that is not in `known`."""
    for name in names_in(text):
        if name in known:
            continue
        if name in BUILTINS:  # a built-in with no value here
            yield Flaw(
                path,
                False,
                (
                    f"{{{cut(name)}}} has no value in a readiness probe, which runs before "
                    "any task; remove it"
                ),
                f"{{{name}}}",
            )
        else:
            yield Flaw(
                path,
                False,
                (
                    f"unknown variable {{{cut(name)}}}{known.hint(name)}; define it under "
                    "`vars:`, pass --var, or write {{ and }} for literal braces"
                ),
                f"{{{name}}}",
            )


def has_cycle(edges: Mapping[str, Iterable[str]]) -> bool:
    """Kahn's algorithm: do the edges (node -> the nodes it waits for, each a node of `edges`)
    hold a cycle at all? Cheap, for a valid plan: what makes the cycle is found only then."""
    indegree = {t: 0 for t in edges}
    waited_by: dict[str, list[str]] = {t: [] for t in edges}
    for t, before in edges.items():
        for n in before:
            indegree[t] += 1
            waited_by[n].append(t)
    queue = [t for t, d in indegree.items() if d == 0]
    seen = 0
    while queue:
        t = queue.pop()
        seen += 1
        for u in waited_by[t]:
            indegree[u] -= 1
            if indegree[u] == 0:
                queue.append(u)
    return seen != len(edges)
