"""Reports as Markdown (JUnit XML: junit.py; the HTML page: html.py).

Every text that came from a plan, a task or an operator is escaped for the format it lands in.
"""

from __future__ import annotations

import re
from typing import Any

from phasegate.engine.model.durations import format_duration
from phasegate.engine.report.facts import NOT_REACHED, ON_TIME_WORDS

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # (no format holds them)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def md(text: object) -> str:
    """One line of Markdown that shows `text` as it is (no markup, no HTML, no table break)."""
    if isinstance(text, str) and text.isalnum():
        return text  # nothing to escape (most ids and statuses): no regex pass
    flat = CONTROL.sub("?", str(text)).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", flat)


_LIST_MARK = re.compile(r"(?:[-+]|\d{1,9}[.)])(?= |$)")


def md_item(text: object) -> str:
    """`md`, for the start of a list item: a leading `+ ` / `- ` (an amendment's `+ task z
    added`) or `1. ` would start a list nested in it, and its mark would not show."""
    shown = md(text)
    mark = _LIST_MARK.match(shown)
    if mark is None:
        return shown
    return f"{shown[: mark.end() - 1]}\\{shown[mark.end() - 1 :]}"


def _num(value: float | None) -> str:
    return format_duration(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


METRIC_NAMES = {
    "task_success_rate": "task success rate",
    "timeline_adherence": "timeline adherence",
    "quality_compliance": "quality compliance",
    "resource_efficiency": "resource efficiency",
    "stakeholder_satisfaction": "stakeholder satisfaction",
}


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [f"# Run {md(s['run'])} of {md(s['plan'])}: {md(s['status'])}", ""]
    if s.get("reason"):
        lines += [f"Reason: {md(s['reason'])}", ""]
    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n)
    if counts:
        down = s.get("engine_down") or 0.0
        part = f" (of which {_num(down)} engine down)" if down > 0 else ""
        lines += [f"Duration {_num(s['duration'])}{part}; tasks: {md(counts)}", ""]
    if s.get("usage"):
        lines += [f"Spent by coding agents: {md(spend(s['usage']))}", ""]
    if "metrics" in report:
        lines += ["## Success metrics", ""]
        lines += _table(
            ["metric", "value"],
            [[METRIC_NAMES[k], _pct(v)] for k, v in report["metrics"].items()],
        )
        if report["metrics"].get("timeline_adherence") is not None:
            lines += [f"On time: tasks and phases {ON_TIME_WORDS}.", ""]
    if "coordination" in report:
        lines += coordination_md(report["coordination"])
    if "qa" in report:
        lines += qa_md(report["qa"])
    if "performance" in report:
        lines += performance_md(report["performance"])
    if "lessons" in report:
        lines += lessons_md(report["lessons"])
    return "\n".join(lines).rstrip() + "\n"


def spend(usage: dict[str, Any]) -> str:
    """`$0.0123 · 1200 in / 80 out tokens · 3 turns`."""
    return (
        f"${float(usage.get('cost_usd', 0.0)):.4f} · {usage.get('input_tokens', 0)} in / "
        f"{usage.get('output_tokens', 0)} out tokens · {usage.get('turns', 0)} turns"
    )


def coordination_md(c: dict[str, Any]) -> list[str]:
    if "agents" not in c:  # (no plan to lay out: {"note": why})
        return ["## Coordination plan", "", md(str(c.get("note", "no plan"))), ""]
    lines = ["## Coordination plan", "", "### Agents and assignments", ""]
    lines += _table(
        ["agent", "slots", "capabilities", "tasks"],
        [
            [
                md(a["id"]),
                str(a["slots"]),
                md(", ".join(a["capabilities"])),
                md(", ".join(a["tasks"])),
            ]
            for a in c["agents"]
        ],
    )
    lines += ["### Phases, dependencies and hand-offs", ""]
    rows = []
    for p in c["phases"]:
        for t in p["tasks"]:
            rows.append(
                [
                    md(p["id"]),
                    _num(p["timebox"]),
                    md(t["id"]),
                    md(", ".join(t["needs"]) or "-"),
                    md(", ".join(t["outputs"]) or "-"),
                    md(t["on_failure"]),
                ]
            )
    lines += _table(["phase", "timebox", "task", "needs", "hands off", "on failure"], rows)
    lines += ["### Gates and approvers", ""]
    lines += _table(
        ["gate", "after", "approval", "approvers", "quorum", "criteria"],
        [
            [
                md(g["id"]),
                md(g["after"]),
                md(g["approval"]),
                md(", ".join(g["approvers"])),
                str(g["quorum"]),
                str(g["criteria"]),
            ]
            for g in c["gates"]
        ]
        or [["-", "-", "-", "-", "-", "-"]],
    )
    lines += ["### Contingency and risk rules", ""]
    lines += [f"- {md(x)}" for x in rule_lines(c["risk_rules"])]
    lines.append("")
    sched = c["schedule"]
    lines += [
        "### Simulated schedule",
        "",
        f"Projected duration {_num(sched['total'])}; critical path: "
        f"{md(' -> '.join(sched['critical_path']) or '-')}",
        "",
    ]
    if c.get("research"):
        lines += ["### Research", ""]
        for r in c["research"]:  # each query with its answers, or why it has none
            found = r.get("results", [])
            said = f"{len(found)} answer{'s' if len(found) != 1 else ''}"
            error = f"; failed: {md(r['error'])}" if r.get("error") else ""
            lines.append(f"- {md(r.get('id'))} ({md(r.get('query'))}): {said}{error}")
            lines += [f"  - {md_item(x)}" for x in found[:5]]
            if len(found) > 5:
                lines.append(f"  - and {len(found) - 5} more")
        lines.append("")
    return lines


def rule_lines(rules: dict[str, Any]) -> list[str]:
    """The plan's risk rules as `key: value` lines (an action per rule it changes)."""
    out = []
    for key, value in rules.items():
        if isinstance(value, dict):
            out += [f"{key}.{k}: {_plain(v)}" for k, v in value.items()] or [f"{key}: none"]
        else:
            shown = format_duration(value) if key in _DURATIONS else _plain(value)
            out.append(f"{key}: {shown}")
    return out


_DURATIONS = frozenset({"silent_after", "gate_wait"})  # the rules' thresholds that are times


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


COUNTS = ("passed", "failed", "errors", "skipped")


def qa_md(q: dict[str, Any]) -> list[str]:
    lines = ["## QA report", "", _compliance(q), ""]
    if q.get("tests"):
        lines += ["### Test results", ""]
        lines += _table(
            ["task", "passed", "failed", "errors", "skipped", "from"],
            [
                [md(t["task"]), *(str(t.get(k, 0)) for k in COUNTS),
                 md(t.get("source") or f"none read: {t.get('error', '')}")]
                for t in q["tests"]
            ],
        )  # fmt: skip
        for t in q["tests"]:
            for x in t.get("failures", [])[:20]:
                lines.append(f"- {md(t['task'])}: {md(x['name'])}: {md(x.get('message', ''))}")
        lines.append("")
    if not q["gates"]:
        return [*lines, "No gates in this plan.", ""]
    for g in q["gates"]:
        lines += [f"### Gate {md(g['id'])} (after {md(g['after'])}): {md(g['status'])}", ""]
        lines += _table(
            ["criterion", "result", "evidence"],
            [
                [
                    md(f"{c.get('kind')} {c.get('spec')}"),
                    "passed" if c.get("passed") else "FAILED",
                    md(c.get("detail", "")),
                ]
                for c in g["criteria"]
            ]
            or [["-", "-", "-"]],
        )
        lines.append(f"Evidence hash: {md(g['evidence_hash'] or '-')}")
        for d in g["decisions"]:
            who = f"{md(d['user'])}@{md(d['host'])}"
            lines.append(f"- {md(d['decision'])} by {who}: {md(d['reason'] or '-')}")
        for r in g["refused"]:
            lines.append(f"- refused: {md(r['user'])}: {md(r['why'])}")
        lines.append("")
    return lines


def _compliance(q: dict[str, Any]) -> str:
    """`Quality compliance: 50% of gates passed; criteria passed 3/4`; without a decided gate
    or an evaluated criterion, what there was instead (no `n/a of gates passed`, no `0/0`)."""
    unreached = sum(1 for g in q["gates"] if g["status"] == NOT_REACHED)
    if q["compliance"] is not None:
        line = f"Quality compliance: {_pct(q['compliance'])} of gates passed"
    elif not q["gates"]:
        line = "Quality compliance: n/a, the plan has no gates"
    elif unreached:
        line = f"Quality compliance: n/a, no gate was decided ({unreached} not reached)"
    else:
        line = "Quality compliance: n/a, no gate was decided"
    if q["criteria_total"]:
        return f"{line}; criteria passed {q['criteria_passed']}/{q['criteria_total']}"
    return f"{line}; no criterion was evaluated"


def performance_md(p: dict[str, Any]) -> list[str]:
    lines = ["## Performance report", ""]
    lines += [
        f"Duration {_num(p['duration'])}; queue wait {_num(p['queue_wait'])}; gate wait "
        f"{_num(p['gate_wait'])}; retry cost {_num(p['retry_cost'])}"
        + (f"; paused {_num(p['paused'])} (not counted as queue wait)" if p.get("paused") else "")
        + (
            f"; the engine was down {_num(p['engine_down'])} more (not counted)"
            if p.get("engine_down")
            else ""
        ),
        "",
    ]
    lines += _table(
        ["agent", "slots", "busy", "utilisation"],
        [
            [md(a["id"]), str(a["slots"]), _num(a["busy"]), _pct(a["utilisation"])]
            for a in p["agents"]
        ],
    )
    lines += _table(
        ["phase", "status", "duration", "timebox"],
        [
            [md(x["id"]), md(x["status"]) + _again(x), _num(x["duration"]), _num(x["timebox"])]
            for x in p["phases"]
        ],
    )
    lines += _table(
        ["task", "status", "attempts", "duration", "estimate", "queue wait"],
        [
            [
                md(t["id"]),
                md(t["status"]),
                str(t["attempts"]),
                _num(t["duration"]),
                _num(t["estimate"]),
                _num(t["queue_wait"]),
            ]
            for t in p["tasks"]
        ],
    )
    if p.get("costs"):
        lines += _table(
            ["task", "input tokens", "output tokens", "turns", "cost"],
            [
                [md(c["task"]), str(c.get("input_tokens", 0)), str(c.get("output_tokens", 0)),
                 str(c.get("turns", 0)), f"${float(c.get('cost_usd', 0.0)):.4f}"]
                for c in p["costs"]
            ],
        )  # fmt: skip
    cp = p["critical_path"]
    lines += [
        f"Critical path planned: {md(' -> '.join(cp['planned']) or '-')}",
        "",
        f"Critical path actual: {md(' -> '.join(cp['actual']) or '-')}",
        "",
    ]
    fc = p["forecasts"]
    if fc.get("recorded"):
        lines += [
            f"Forecast accuracy: {fc['recorded']} forecast{'s' if fc['recorded'] != 1 else ''}, "
            f"mean error {_num(fc['mean_error'])}",
            "",
        ]
    else:
        lines += [f"Forecast accuracy: {md(fc.get('note') or 'no forecasts recorded')}", ""]
    return lines


DECIDED = {"approve": "approved", "reject": "rejected"}  # a vote's decision, said as done


def lessons_md(le: dict[str, Any]) -> list[str]:
    lines = ["## Lessons learned", ""]
    if le["findings"]:
        lines += _table(
            ["kind", "subject", "finding", "recommendation"],
            [
                [md(x["kind"]), md(x["subject"]), md(x["finding"]), md(x["recommendation"])]
                for x in le["findings"]
            ],
        )
    else:
        lines += ["No findings: the run went as planned.", ""]
    lines += ["### Operators' notes", ""]
    lines += [f"- {md(n['by'])}: {md(n['text'])}" for n in le["notes"]] or ["- none"]
    lines += ["", "### Stakeholder feedback", ""]
    lines += [
        f"- {md(g['user'])}: "
        + (f"{g['rating']}/5" if g.get("rating") is not None else "no rating")
        + (f", {md(g['comment'])}" if g.get("comment") else "")
        + "".join(
            f"; {md(q)}: {md(a)}"
            for q, a in (g.get("answers") or {}).items()
            if a not in (str(g.get("rating")), g.get("comment"))
        )
        for g in le.get("feedback") or []
    ] or ["- none given"]
    if le.get("scope_changes"):
        lines += ["", "### Scope changes", ""]
        for c in le["scope_changes"]:
            version = f", plan v{c['version']}" if c.get("version") else ""
            why = f": {md(c['reason'])}" if c.get("reason") else ""
            lines.append(f"- {md(c['change'])} by {md(c['by'])} ({md(c['status'])}{version}){why}")
            for d in c.get("decided", []):
                said = f": {md(d['reason'])}" if d["reason"] else ""
                done = DECIDED.get(d["decision"], d["decision"])
                lines.append(f"  - {md(done)} by {md(d['by'])}{said}")
            lines += [f"  - {md_item(x)}" for x in c["diff"]]
    h = le["handoff"]
    lines += ["", "### Hand-off", "", "Deliverables:"]
    lines += [f"- {md(d['task'])}: {md(', '.join(d['outputs']))}" for d in h["deliverables"]] or [
        "- none declared"
    ]
    if h.get("branches"):
        lines += ["", "Branches (each worktree attempt's work, committed; the patch beside):"]
        lines += [
            f"- {md(b['task'])}: branch {md(b['branch'])}, {b['files']} files, "
            f"+{b['insertions']} -{b['deletions']} ({md(b['patch'])})"
            for b in h["branches"]
        ]
    lines += ["", "Open items:"]
    lines += [f"- {_item(i)}: {md(_said(i))}" for i in h["open_items"]] or ["- none"]
    return [*lines, ""]


def _said(i: dict[str, Any]) -> str:
    """`cancelled by root`, not `cancelled cancelled by root`: the status, then its reason
    unless the reason says it already."""
    status, reason = str(i["status"]), str(i["reason"] or "")
    return reason if reason.startswith(status) else f"{status} {reason}".rstrip()


def _item(i: dict[str, Any]) -> str:
    """What an open item is about: a task or a risk by its id, a gate as `gate ID`."""
    if i.get("gate"):
        return f"gate {md(i['gate'])}"
    return md(i.get("task") or i.get("risk"))


def _again(phase: dict[str, Any]) -> str:
    """A phase that ran more than once (a gate sent the run back to it): its duration is the
    last time's, as its timebox counts it."""
    n = len(phase.get("passes") or ())
    return f" (ran {n} times; the last counted)" if n > 1 else ""
