"""A run as JUnit XML: one test case per task, so that CI systems can show it.

Every text that came from a plan, a task or a tool's results is stripped of the control
characters XML cannot hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phasegate.engine.report.facts import FAILED_ENDS, Facts
from phasegate.engine.report.render import CONTROL

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET


# how a task's status shows in the suite: one rule for its test case and the suite's counts
# (`skipped=` counted skipped and pending, while ready and running tasks' cases said skipped)
ERRORS = frozenset({"cancelled", "blocked", "unknown"})  # (no end of its own, or not known)
SKIPPED = frozenset({"skipped", "pending", "ready", "running"})  # (no result: not run, or not yet)


def _xml(text: object) -> str:
    return CONTROL.sub("?", str(text))


def junit(f: Facts) -> str:
    """One test case per task (classname: its phase), so CI systems can show a run; a task's
    own test results (`results:`) follow it, their classname under the task's id
    (`TASK.module`), their counts in the suite's."""
    import xml.etree.ElementTree as ET  # (here: the reports a run writes at its end need none)

    s = f.state
    cases = {tid: e.cases for tid, e in f.tests.items()}
    outcomes = [c[1] for listed in cases.values() for c in listed]
    suite = ET.Element(
        "testsuite",
        name=_xml(f"phasegate {s.plan_name} {f.run_id}"),
        tests=str(len(s.tasks) + len(outcomes)),
        failures=str(
            sum(1 for t in s.tasks.values() if t.status.value in FAILED_ENDS)
            + outcomes.count("failed")
        ),
        errors=str(
            sum(1 for t in s.tasks.values() if t.status.value in ERRORS) + outcomes.count("errors")
        ),
        skipped=str(
            sum(1 for t in s.tasks.values() if t.status.value in SKIPPED)
            + outcomes.count("skipped")
        ),
        time=f"{f.end - f.start:.3f}",
    )
    for t in s.tasks.values():
        last = f.final(t.id)
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml(t.phase),
            name=_xml(t.id),
            time=f"{last.duration if last and last.end else 0.0:.3f}",
        )
        status = t.status.value
        why = _xml(t.reason or status)
        if status in FAILED_ENDS:
            ET.SubElement(case, "failure", message=why, type=status).text = why
        elif status in ERRORS:
            ET.SubElement(case, "error", message=why, type=status).text = why
        elif status in SKIPPED:
            ET.SubElement(case, "skipped", message=why)
        if t.id in f.tests:
            _test_cases(suite, t.id, f.tests[t.id])
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _test_cases(suite: ET.Element, task: str, results: Any) -> None:
    """A task's own test cases, under its id."""
    import xml.etree.ElementTree as ET

    messages = {x["name"]: x.get("message", "") for x in results.failures}
    for name, outcome, seconds in results.cases:
        module, _, test = str(name).rpartition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml(f"{task}.{module}" if module else task),
            name=_xml(test or name),
            time=f"{float(seconds):.3f}",
        )
        message = _xml(messages.get(name, ""))
        if outcome == "failed":
            ET.SubElement(case, "failure", message=message).text = message
        elif outcome == "errors":
            ET.SubElement(case, "error", message=message).text = message
        elif outcome == "skipped":
            ET.SubElement(case, "skipped")
