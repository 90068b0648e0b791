"""The HTML report: one self-contained page (no script, no external asset), light and dark,
printable: summary cards, a Gantt chart, the agents' utilisation, the plan's trend across its
runs (inline SVG), test results, costs, then every report's tables.

Every text that came from a plan, a task or an operator goes through html.escape.
"""

from __future__ import annotations

import html
import re
from typing import Any

from phasegate.engine.report import render
from phasegate.engine.report.charts import (
    dur,
    e,
    gantt_of_plan,
    gantt_of_run,
    legend,
    table,
    trend,
    utilisation,
)
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
        body.append(_section("Timeline", gantt_of_run(perf), legend(True)))
        body.append(_section("Agents' utilisation over time", utilisation(perf)))
    elif coord and coord.get("schedule"):
        body.append(_section("Simulated timeline", gantt_of_plan(coord), legend(False)))
    if len(report.get("trend") or []) > 1:
        body.append(_section("The plan across its runs", *trend(report["trend"]), _down(report)))
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


def _down(report: dict[str, Any]) -> str:
    """What the trend's durations leave out, when an engine of its runs was ever down."""
    down = [p for p in report["trend"] if (p.get("engine_down") or 0.0) > 0]
    if not down:
        return ""
    each = ", ".join(f"{dur(p['engine_down'])} of run {p['run']}" for p in down)
    return (
        '<p class="muted">Durations leave out the time no engine ran the run (a crash until its '
        f"take-over), as the performance report does: {e(each)}.</p>"
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
    value = f'<div class="v">{e(dur(s.get("duration")))}</div>'
    down = s.get("engine_down") or 0.0  # (as the Markdown summary says it)
    if down > 0:
        value += f'<div class="muted">(of which {e(dur(down))} engine down)</div>'
    cards.append(_card("duration", value, counts))
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


def _tests(tests: list[dict[str, Any]]) -> str:
    rows = [
        [e(t["task"]), *(e(t.get(k, 0)) for k in render.COUNTS),
         e(t.get("source") or f"none read: {t.get('error', '')}")]
        for t in tests
    ]  # fmt: skip
    out = table(["task", "passed", "failed", "errors", "skipped", "from"], rows)
    failing = [(t["task"], x) for t in tests for x in t.get("failures", [])[:50]]
    if failing:
        out += "<h3>Failing tests</h3>" + table(
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
    return table(["task", "cost", "input tokens", "output tokens", "turns"], rows)


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
