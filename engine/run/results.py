"""A task's test results (`results:`), read when each attempt ends: the counts (passed,
failed, skipped, errors) and the failing tests' names and messages, from the JUnit XML file it
wrote (pytest --junitxml, Maven Surefire, go-junit-report...) or, as a fallback or alone, from
the last line of its output that matches the plan's summary pattern. A part of the run."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.plan.model import Results

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

MAX_BYTES = 256 * 1024 * 1024  # a JUnit file larger than this is not read
MAX_FAILURES = 100  # failing tests kept by name and message (the counts are always whole)
MAX_CASES = 5_000  # test cases kept by name, outcome and time (for the JUnit report)
MESSAGE_CHARS = 300
KEYS = ("passed", "failed", "skipped", "errors")


class Found(msgspec.Struct):
    counts: dict[str, int] = msgspec.field(default_factory=lambda: dict.fromkeys(KEYS, 0))
    failures: list[dict[str, str]] = []  # {name, message, kind}
    cases: list[list[Any]] = []  # [name, outcome, seconds]
    source: str = ""  # "junit" | "summary" | "" (none could be read)
    error: str = ""  # why nothing could be read


class Summary:
    """Watches an attempt's output lines for the plan's summary pattern (the last match)."""

    __slots__ = ("_pattern", "last")

    def __init__(self, pattern: str) -> None:
        self._pattern = re.compile(pattern)
        self.last: dict[str, int] | None = None

    def line(self, text: str) -> None:
        m = self._pattern.search(text)
        if m is not None:
            found = m.groupdict()
            self.last = {k: int(found[k]) if found.get(k) else 0 for k in KEYS}


def read(spec: Results, cwd: str, summary: Summary | None) -> Found:
    """The attempt's results: its JUnit file if declared and readable, else its summary line."""
    problem = ""
    if spec.junit is not None:
        path = os.path.join(cwd, spec.junit)
        try:
            return junit(path)
        except ValueError as exc:
            problem = str(exc)
    if summary is not None:
        if summary.last is not None:
            found = Found(dict(summary.last), source="summary")
            if problem:
                found.error = f"{problem}; counts read from the summary line"
            return found
        problem = "; ".join(x for x in (problem, "no output line matched the summary") if x)
    return Found(error=problem)


def junit(path: str) -> Found:
    """Counts and failing tests of a JUnit XML file; ValueError says why it cannot be read."""
    name = os.path.basename(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        raise ValueError(f"{name} was not written") from None
    if size > MAX_BYTES:
        raise ValueError(f"{name} is over {MAX_BYTES >> 20} MiB; not read")
    import xml.etree.ElementTree as ET  # (here: a task without results never needs it)

    try:
        root = ET.parse(path).getroot()  # (expat refuses entity expansion bombs)
    except ET.ParseError as exc:
        raise ValueError(f"{name} is not XML ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{name} cannot be read ({exc.strerror})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{name} is not JUnit XML (its root is <{root.tag}>)")
    found = Found(source="junit")
    cases = list(root.iter("testcase"))
    for case in cases:
        kind = _outcome(case)
        found.counts[kind] += 1
        if len(found.cases) < MAX_CASES:
            found.cases.append([_name(case), kind, _seconds(case.get("time"))])
        if kind in ("failed", "errors") and len(found.failures) < MAX_FAILURES:
            found.failures.append(_failure(case, kind))
    if not cases:  # (a runner that writes only the suites' totals)
        for suite in [root] if root.tag == "testsuite" else root.findall("testsuite"):
            total = _int(suite.get("tests"))
            bad = {k: _int(suite.get(a)) for k, a in (("failed", "failures"), ("errors", "errors"))}
            skipped = _int(suite.get("skipped") or suite.get("disabled"))
            found.counts["failed"] += bad["failed"]
            found.counts["errors"] += bad["errors"]
            found.counts["skipped"] += skipped
            found.counts["passed"] += max(0, total - bad["failed"] - bad["errors"] - skipped)
    return found


def _outcome(case: ET.Element) -> str:
    for child in case:
        if child.tag == "failure":
            return "failed"
        if child.tag == "error":
            return "errors"
        if child.tag == "skipped":
            return "skipped"
    return "passed"


def _failure(case: ET.Element, kind: str) -> dict[str, str]:
    name = _name(case)
    child = case.find("failure" if kind == "failed" else "error")
    message = ""
    if child is not None:
        message = child.get("message") or ""
        if not message:  # (the first line of its text: a runner that gives no message)
            lines = (child.text or "").strip().splitlines()
            message = lines[0] if lines else ""
    return {"name": name, "message": " ".join(message.split())[:MESSAGE_CHARS], "kind": kind}


def _name(case: ET.Element) -> str:
    classname, test = case.get("classname") or "", case.get("name") or "?"
    return f"{classname}::{test}" if classname else test


def _seconds(value: Any) -> float:
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return 0.0


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0
