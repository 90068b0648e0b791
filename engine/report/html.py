"""The HTML report: one self-contained page (no script, no external asset), light and dark,
printable: summary cards, a Gantt chart, the agents' utilisation, the plan's trend across its
runs (inline SVG), test results, costs, then every report's tables.

Every text that came from a plan, a task or an operator goes through html.escape.
"""

from __future__ import annotations

import html
import re
from typing import Any

from phasegate.engine.model.durations import format_duration
from phasegate.engine.report import render
from phasegate.engine.report.facts import ON_TIME_WORDS

_STYLE = """
:root{--bg:#fff;--fg:#1c2128;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;--ok:#2da44e;
--bad:#cf222e;--run:#0969da;--skip:#8c959f;--crit:#bf8700;--band:#eef2f6;--band2:#f8fafc;
--gate:#8250df;--down:#cf222e33}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;
--line:#30363d;--card:#161b22;--ok:#3fb950;--bad:#f85149;--run:#4493f8;--skip:#6e7681;
--crit:#d29922;--band:#161b22;--band2:#1c2128;--gate:#a371f7;--down:#f8514933}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg)}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:72rem;
margin:0 auto;padding:1.5rem;overflow-wrap:break-word}
h1{font-size:1.55rem;margin:.2rem 0 .4rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;
border-bottom:1px solid var(--line);padding-bottom:.3rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
p,li{max-width:60rem}.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.7rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7rem .8rem}
.card .k{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:1.5rem;font-weight:600;margin:.1rem 0}
.meter{height:6px;background:var(--line);border-radius:3px;overflow:hidden}
.meter i{display:block;height:100%;background:var(--ok)}
.st-succeeded,.st-passed{color:var(--ok)}.st-failed,.st-timed_out,.st-rejected,.st-cancelled,
.st-interrupted{color:var(--bad)}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.4rem 0 .8rem}
td,th{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;width:100%;height:auto;max-width:100%}
svg text{fill:var(--fg);font:11px system-ui,sans-serif}svg .m{fill:var(--muted)}
.b-succeeded{fill:var(--ok)}.b-failed,.b-timed_out,.b-cancelled{fill:var(--bad)}
.b-running,.b-planned{fill:var(--run)}.b-skipped,.b-interrupted{fill:var(--skip)}
.crit{stroke:var(--crit);stroke-width:2.5}.band{fill:var(--band)}.band2{fill:var(--band2)}
.gate{fill:var(--gate);opacity:.35}.down{fill:var(--down)}.grid{stroke:var(--line)}
.util{fill:var(--run)}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1rem;font-size:.82rem;color:var(--muted)}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;
vertical-align:-.1rem}
@media print{:root{--bg:#fff;--fg:#000;--muted:#444;--line:#bbb;--card:#fff;--band:#f0f0f0;
--band2:#fafafa}body{max-width:none;padding:0;font-size:10.5pt}.card,svg,tr{break-inside:avoid}
h2{break-after:avoid}.scroll{overflow:visible}}
"""
_METRIC_COLOURS = {  # one per success metric, in both themes
    "task_success_rate": "#2da44e",
    "timeline_adherence": "#0969da",
    "quality_compliance": "#8250df",
    "resource_efficiency": "#bf8700",
    "stakeholder_satisfaction": "#cf222e",
}


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _d(seconds: float | None) -> str:
    return format_duration(seconds)


def to_html(report: dict[str, Any]) -> str:
    """The whole page."""
    s = report["summary"]
    title = f"Run {s['run']} of {s['plan']}: {s['status']}"
    body = [f"<header><h1>{e(title)}</h1>"]
    if s.get("reason"):
        body.append(f'<p class="muted">{e(s["reason"])}</p>')
    body += ["</header>", _cards(report)]
    perf, coord = report.get("performance"), report.get("coordination")
    if perf:
        body.append(_section("Timeline", _gantt_of_run(perf), _legend(True)))
        body.append(_section("Agents' utilisation over time", _utilisation(perf)))
    elif coord and coord.get("schedule"):
        body.append(_section("Simulated timeline", _gantt_of_plan(coord), _legend(False)))
    if len(report.get("trend") or []) > 1:
        body.append(_section("The plan across its runs", *_trend(report["trend"])))
    if report.get("qa", {}).get("tests"):
        body.append(_section("Test results", _tests(report["qa"]["tests"])))
    costs = _costs(report)
    if costs:
        body.append(_section("Costs", costs))
    rest: list[str] = []
    if coord and "agents" in coord:
        rest += render.coordination_md(coord)
    if "qa" in report:
        rest += render.qa_md({**report["qa"], "tests": []})
    if perf:
        rest += render.performance_md(perf)
    if "lessons" in report:
        rest += render.lessons_md(report["lessons"])
    body.append(_from_markdown(rest))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="color-scheme" content="light dark"><title>{e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{e(title)}</h2>" + "".join(parts) + "</section>"


def _card(key: str, value: str, note: str = "", pct: float | None = None) -> str:
    meter = (
        f'<div class="meter"><i style="width:{max(0.0, min(100.0, pct)):.0f}%"></i></div>'
        if pct is not None
        else ""
    )
    small = f'<div class="muted">{e(note)}</div>' if note else ""
    return f'<div class="card"><div class="k">{e(key)}</div>{value}{meter}{small}</div>'


def _cards(report: dict[str, Any]) -> str:
    s = report["summary"]
    status = e(s["status"])
    cards = [_card("status", f'<div class="v st-{status}">{status}</div>')]
    counts = ", ".join(f"{n} {k}" for k, n in (s.get("counts") or {}).items() if n)
    cards.append(_card("duration", f'<div class="v">{e(_d(s.get("duration")))}</div>', counts))
    cost = (s.get("usage") or {}).get("cost_usd")
    if cost:
        tokens = sum(int(s["usage"].get(k) or 0) for k in ("input_tokens", "output_tokens"))
        cards.append(_card("spend", f'<div class="v">${cost:,.2f}</div>', f"{tokens:,} tokens"))
    for key, value in (report.get("metrics") or {}).items():
        shown = "n/a" if value is None else f"{value:.0f}%"
        note = f"on time: {ON_TIME_WORDS}" if key == "timeline_adherence" else ""
        cards.append(
            _card(render.METRIC_NAMES[key], f'<div class="v">{shown}</div>', note, pct=value)
        )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _legend(run: bool) -> str:
    items = [("var(--ok)", "succeeded"), ("var(--bad)", "failed")] if run else []
    items += [("var(--run)", "running" if run else "planned")]
    if run:
        items += [("var(--skip)", "skipped or interrupted")]
    items += [("var(--crit)", "critical path (outlined)"), ("var(--gate)", "gate waiting")]
    items += [("var(--band)", "phase")]
    spans = "".join(f'<span><i style="background:{c}"></i>{e(t)}</span>' for c, t in items)
    return f'<div class="legend">{spans}</div>'


def _ticks(span: float, x0: float, scale: float, y: float, bottom: float) -> list[str]:
    out = []
    for i in range(6):
        t = span * i / 5
        x = x0 + t * scale
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{bottom}"/>')
        anchor = "end" if i == 5 else ("start" if i == 0 else "middle")
        out.append(
            f'<text class="m" x="{x:.1f}" y="{bottom + 13}" text-anchor="{anchor}">{_d(t)}</text>'
        )
    return out


def gantt(
    bars: list[dict[str, Any]],
    phases: list[tuple[str, float, float]],
    gates: list[dict[str, Any]],
    critical: list[str],
    down: list[tuple[float, float]] = (),  # type: ignore[assignment]
    width: int = 960,
) -> str:
    """A Gantt chart as inline SVG: a row per task (each attempt a bar), phase bands behind,
    gate waits labelled in rows of their own, the critical path outlined."""
    if not bars:
        return "<p>No task ran.</p>"
    rows = list(dict.fromkeys(b["task"] for b in bars))
    span = max(
        [b["end"] for b in bars]
        + [g["closed"] for g in gates]
        + [b for _, _, b in phases]  # (a phase going on after the last bar: held, say)
        + [1e-3]
    )
    label, top, row = 170, 22, 20
    scale = (width - label - 16) / span
    height = top + row * (len(rows) + len(gates)) + 24
    bottom = height - 22
    crit = set(critical)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Gantt chart of the run">'
    ]
    for i, (pid, a, b) in enumerate(phases):
        x, w = label + a * scale, max(1.0, (b - a) * scale)
        out.append(
            f'<rect class="{"band" if i % 2 == 0 else "band2"}" x="{x:.1f}" y="{top - 18}" '
            f'width="{w:.1f}" height="{bottom - top + 18}"><title>phase {e(pid)}: '
            f"{_d(b - a)}</title></rect>"
        )
        name = _cut(pid, 24)
        tx = min(x + 3, width - 4 - len(name) * 6.5)  # (a short last phase: label inside)
        out.append(f'<text x="{max(label, tx):.1f}" y="{top - 6}">{e(name)}</text>')
    for a, b in down:
        out.append(
            f'<rect class="down" x="{label + a * scale:.1f}" y="{top}" '
            f'width="{max(1.0, (b - a) * scale):.1f}" height="{bottom - top}">'
            f"<title>engine down {_d(b - a)}</title></rect>"
        )
    out += _ticks(span, label, scale, top, bottom)
    index = {t: i for i, t in enumerate(rows)}
    for t in rows:
        y = top + index[t] * row
        weight = ' font-weight="700"' if t in crit else ""
        out.append(f'<text x="2" y="{y + 14}"{weight}>{e(_cut(t, 24))}<title>{e(t)}</title></text>')
    final = {bar["task"]: i for i, bar in enumerate(bars)}  # the attempt that counted
    for i, bar in enumerate(bars):
        y = top + index[bar["task"]] * row + 3
        x, w = label + bar["start"] * scale, max(1.5, (bar["end"] - bar["start"]) * scale)
        cls = f"b-{e(bar['status'])}" + (
            " crit" if bar["task"] in crit and final[bar["task"]] == i else ""
        )
        took = _d(bar["end"] - bar["start"])
        tip = f"{bar['task']} #{bar.get('number', 1)}: {bar['status']}, {took}"
        out.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" '
            f'rx="2"><title>{e(tip)}</title></rect>'
        )
    for i, g in enumerate(gates):
        y = top + (len(rows) + i) * row + 3
        x, w = label + g["opened"] * scale, max(1.5, (g["closed"] - g["opened"]) * scale)
        text = f"gate {g['id']}: waited {_d(g['closed'] - g['opened'])}"
        if g.get("outcome"):
            text += f", {g['outcome']}"
        out.append(f'<text x="2" y="{y + 11}" class="m">◆ {e(_cut(str(g["id"]), 20))}</text>')
        out.append(
            f'<rect class="gate" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}">'
            f"<title>{e(text)}</title></rect>"
        )
        inside = w > len(text) * 6.2
        tx = x + 4 if inside else min(x + w + 4, width - len(text) * 6.2)
        out.append(f'<text x="{max(label, tx):.1f}" y="{y + 11}">{e(text)}</text>')
    return "".join(out) + "</svg>"


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _phase_spans(items: list[dict[str, Any]], phase_of: dict[str, str]) -> list[Any]:
    spans: dict[str, list[float]] = {}
    for b in items:
        p = phase_of.get(b["task"], "")
        if p:
            lo_hi = spans.setdefault(p, [b["start"], b["end"]])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], b["start"]), max(lo_hi[1], b["end"])
    return [(p, a, b) for p, (a, b) in spans.items()]


def _gantt_of_run(perf: dict[str, Any]) -> str:
    phase_of = {t["id"]: t["phase"] for t in perf["tasks"]}
    bars = sorted(perf.get("attempts", []), key=lambda b: (b["start"], b["task"]))
    # a band for each time a phase ran (a gate's rejection runs it again), as the phases'
    # table counts them; from the attempts only for a run whose phases never started
    passes = [
        (p["id"] if len(p["passes"]) == 1 else f"{p['id']} #{k}", x["start"], x["end"])
        for p in perf["phases"]
        for k, x in enumerate(p.get("passes") or (), 1)
    ]  # (in the order they ran: their bands alternate in colour)
    phases = sorted(passes, key=lambda x: x[1]) or _phase_spans(bars, phase_of)
    return gantt(bars, phases, perf.get("gates", []), perf["critical_path"]["actual"],
                 perf.get("down", []))  # fmt: skip


def _gantt_of_plan(coord: dict[str, Any]) -> str:
    sched = coord["schedule"]
    bars = [{"task": t["task"], "start": t["start"], "end": t["end"], "status": "planned"}
            for t in sched["tasks"]]  # fmt: skip
    phases = [(p["id"], p["start"], p["end"]) for p in sched["phases"]]
    return gantt(bars, phases, [], sched["critical_path"])


def _utilisation(perf: dict[str, Any], width: int = 960, bins: int = 96) -> str:
    """Per agent, the share of its slots busy over time (a column per slice of the run)."""
    span = max([a["end"] for a in perf.get("attempts", [])] + [perf.get("duration") or 0, 1e-3])
    agents = perf["agents"]
    if not agents:
        return "<p>No agent.</p>"
    label, row, gap = 170, 34, 8
    height = len(agents) * (row + gap) + 20
    step, scale = span / bins, (width - label - 16) / span
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="utilisation per agent over time">'
    ]
    for i, ag in enumerate(agents):
        y = i * (row + gap)
        mine = [a for a in perf.get("attempts", []) if a["agent"] == ag["id"]]
        out.append(
            f'<text x="2" y="{y + 14}">{e(_cut(str(ag["id"]), 24))}<title>{e(ag["id"])}</title>'
            f'</text><text class="m" x="2" y="{y + 28}">{ag["slots"]} slot'
            f"{'s' if ag['slots'] != 1 else ''}, {render._pct(ag['utilisation'])}</text>"
            f'<rect class="band" x="{label}" y="{y}" width="{width - label - 16}" height="{row}"/>'
        )
        for k in range(bins):
            a, b = k * step, (k + 1) * step
            busy = sum(max(0.0, min(b, x["end"]) - max(a, x["start"])) for x in mine)
            share = min(1.0, busy / (step * max(1, ag["slots"])))
            if share > 0:
                h = row * share
                out.append(
                    f'<rect class="util" x="{label + a * scale:.1f}" y="{y + row - h:.1f}" '
                    f'width="{step * scale + 0.3:.1f}" height="{h:.1f}">'
                    f"<title>{_d(a)}-{_d(b)}: {share * 100:.0f}%</title></rect>"
                )
    out += _ticks(span, label, scale, height - 20, height - 20)
    return "".join(out) + "</svg>"


def _trend(points: list[dict[str, Any]], width: int = 960) -> tuple[str, str, str]:
    """The success metrics over the plan's runs (a line each), then a table of them."""
    label, top, h = 44, 10, 160
    n = len(points)
    dx = (width - label - 30) / max(1, n - 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {h + 40}" '
        'role="img" aria-label="success metrics across runs">'
    ]
    for pct in (0, 50, 100):
        y = top + h - h * pct / 100
        out.append(f'<line class="grid" x1="{label}" y1="{y}" x2="{width - 20}" y2="{y}"/>')
        out.append(f'<text class="m" x="{label - 6}" y="{y + 4}" text-anchor="end">{pct}%</text>')
    for i, p in enumerate(points):
        x = label + i * dx
        out.append(
            f'<text class="m" x="{x:.1f}" y="{top + h + 18}" text-anchor="middle">'
            f"{e(_cut(str(p['run']), 10))}</text>"
        )
    for key, colour in _METRIC_COLOURS.items():
        xy = [
            (label + i * dx, top + h - h * p["metrics"][key] / 100, p)
            for i, p in enumerate(points)
            if p["metrics"].get(key) is not None
        ]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in xy)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for x, y, p in xy:
            tip = f"{p['run']}: {render.METRIC_NAMES[key]} {p['metrics'][key]:.0f}%"
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                f"<title>{e(tip)}</title></circle>"
            )
    legend = "".join(
        f'<span><i style="background:{c}"></i>{e(render.METRIC_NAMES[k])}</span>'
        for k, c in _METRIC_COLOURS.items()
    )
    head = ["run", "status", "duration", *(render.METRIC_NAMES[k] for k in _METRIC_COLOURS)]
    rows = [
        [e(p["run"]), f'<span class="st-{e(p["status"])}">{e(p["status"])}</span>',
         e(_d(p["duration"])), *(e(render._pct(p["metrics"].get(k))) for k in _METRIC_COLOURS)]
        for p in points
    ]  # fmt: skip
    return "".join(out) + "</svg>", f'<div class="legend">{legend}</div>', _table(head, rows)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table of cells already escaped, in a box that scrolls when it cannot wrap."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _tests(tests: list[dict[str, Any]]) -> str:
    rows = [
        [e(t["task"]), *(e(t.get(k, 0)) for k in render.COUNTS),
         e(t.get("source") or f"none read: {t.get('error', '')}")]
        for t in tests
    ]  # fmt: skip
    out = _table(["task", "passed", "failed", "errors", "skipped", "from"], rows)
    failing = [(t["task"], x) for t in tests for x in t.get("failures", [])[:50]]
    if failing:
        out += "<h3>Failing tests</h3>" + _table(
            ["task", "test", "message"],
            [[e(task), e(x["name"]), e(x.get("message", ""))] for task, x in failing],
        )
    return out


def _costs(report: dict[str, Any]) -> str:
    rows = [
        [e(c["task"]), e(f"${c.get('cost_usd') or 0:,.4f}"), e(f"{c.get('input_tokens') or 0:,}"),
         e(f"{c.get('output_tokens') or 0:,}"), e(c.get("turns") or "-")]
        for c in (report.get("performance") or {}).get("costs", [])
    ]  # fmt: skip
    if not rows:
        return ""
    return _table(["task", "cost", "input tokens", "output tokens", "turns"], rows)


def _from_markdown(lines: list[str]) -> str:
    """The reports' Markdown lines as HTML, every text escaped (the Markdown escapes undone)."""
    body: list[str] = []
    table: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if table:
            head = table[0].replace("td>", "th>")
            body.append(f'<div class="scroll"><table><thead>{head}</thead><tbody>'
                        + "".join(table[1:]) + "</tbody></table></div>")  # fmt: skip
            table.clear()
        if items:
            body.append("<ul>" + "".join(items) + "</ul>")
            items.clear()

    for line in lines:
        if line.startswith("|"):
            if not line.startswith("|---"):
                cells = [_unmd(c.strip()) for c in line.strip().strip("|").split(" | ")]
                table.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if line.startswith("- ") or line.startswith("  - "):
            items.append(f"<li>{_unmd(line.strip()[2:])}</li>")
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_unmd(line[level:].strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{_unmd(line)}</p>")
    flush()
    return "\n".join(body)


def _unmd(text: str) -> str:
    """Markdown-escaped text back to plain text, escaped for HTML."""
    return html.escape(re.sub(r"\\(.)", r"\1", text))
