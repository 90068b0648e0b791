"""The HTML report's charts, inline SVG: the Gantt chart of a run or of its plan, the agents'
utilisation over time, the plan's trend across its runs; and the page's small helpers (escaping,
durations, tables) they share with html.py.

Every text that came from a plan, a task or an operator goes through html.escape.
"""

from __future__ import annotations

import html
from typing import Any

from phasegate.engine.model.durations import format_duration
from phasegate.engine.report import render

METRIC_COLOURS = {  # one per success metric, in both themes
    "task_success_rate": "#2da44e",
    "timeline_adherence": "#0969da",
    "quality_compliance": "#8250df",
    "resource_efficiency": "#bf8700",
    "stakeholder_satisfaction": "#cf222e",
}


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def dur(seconds: float | None) -> str:
    return format_duration(seconds)


def table(head: list[str], rows: list[list[str]]) -> str:
    """A table of cells already escaped, in a box that scrolls when it cannot wrap."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def legend(run: bool) -> str:
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
            f'<text class="m" x="{x:.1f}" y="{bottom + 13}" text-anchor="{anchor}">{dur(t)}</text>'
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
            f"{dur(b - a)}</title></rect>"
        )
        name = cut(pid, 24)
        tx = min(x + 3, width - 4 - len(name) * 6.5)  # (a short last phase: label inside)
        out.append(f'<text x="{max(label, tx):.1f}" y="{top - 6}">{e(name)}</text>')
    for a, b in down:
        out.append(
            f'<rect class="down" x="{label + a * scale:.1f}" y="{top}" '
            f'width="{max(1.0, (b - a) * scale):.1f}" height="{bottom - top}">'
            f"<title>engine down {dur(b - a)}</title></rect>"
        )
    out += _ticks(span, label, scale, top, bottom)
    index = {t: i for i, t in enumerate(rows)}
    for t in rows:
        y = top + index[t] * row
        weight = ' font-weight="700"' if t in crit else ""
        out.append(f'<text x="2" y="{y + 14}"{weight}>{e(cut(t, 24))}<title>{e(t)}</title></text>')
    final = {bar["task"]: i for i, bar in enumerate(bars)}  # the attempt that counted
    for i, bar in enumerate(bars):
        y = top + index[bar["task"]] * row + 3
        x, w = label + bar["start"] * scale, max(1.5, (bar["end"] - bar["start"]) * scale)
        cls = f"b-{e(bar['status'])}" + (
            " crit" if bar["task"] in crit and final[bar["task"]] == i else ""
        )
        took = dur(bar["end"] - bar["start"])
        tip = f"{bar['task']} #{bar.get('number', 1)}: {bar['status']}, {took}"
        out.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" '
            f'rx="2"><title>{e(tip)}</title></rect>'
        )
    for i, g in enumerate(gates):
        y = top + (len(rows) + i) * row + 3
        x, w = label + g["opened"] * scale, max(1.5, (g["closed"] - g["opened"]) * scale)
        text = f"gate {g['id']}: waited {dur(g['closed'] - g['opened'])}"
        if g.get("outcome"):
            text += f", {g['outcome']}"
        out.append(f'<text x="2" y="{y + 11}" class="m">◆ {e(cut(str(g["id"]), 20))}</text>')
        out.append(
            f'<rect class="gate" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}">'
            f"<title>{e(text)}</title></rect>"
        )
        inside = w > len(text) * 6.2
        tx = x + 4 if inside else min(x + w + 4, width - len(text) * 6.2)
        out.append(f'<text x="{max(label, tx):.1f}" y="{y + 11}">{e(text)}</text>')
    return "".join(out) + "</svg>"


def cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _phase_spans(items: list[dict[str, Any]], phase_of: dict[str, str]) -> list[Any]:
    spans: dict[str, list[float]] = {}
    for b in items:
        p = phase_of.get(b["task"], "")
        if p:
            lo_hi = spans.setdefault(p, [b["start"], b["end"]])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], b["start"]), max(lo_hi[1], b["end"])
    return [(p, a, b) for p, (a, b) in spans.items()]


def gantt_of_run(perf: dict[str, Any]) -> str:
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


def gantt_of_plan(coord: dict[str, Any]) -> str:
    sched = coord["schedule"]
    bars = [{"task": t["task"], "start": t["start"], "end": t["end"], "status": "planned"}
            for t in sched["tasks"]]  # fmt: skip
    phases = [(p["id"], p["start"], p["end"]) for p in sched["phases"]]
    return gantt(bars, phases, [], sched["critical_path"])


def utilisation(perf: dict[str, Any], width: int = 960, bins: int = 96) -> str:
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
            f'<text x="2" y="{y + 14}">{e(cut(str(ag["id"]), 24))}<title>{e(ag["id"])}</title>'
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
                    f"<title>{dur(a)}-{dur(b)}: {share * 100:.0f}%</title></rect>"
                )
    out += _ticks(span, label, scale, height - 20, height - 20)
    return "".join(out) + "</svg>"


def trend(points: list[dict[str, Any]], width: int = 960) -> tuple[str, str, str]:
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
            f"{e(cut(str(p['run']), 10))}</text>"
        )
    for key, colour in METRIC_COLOURS.items():
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
        for k, c in METRIC_COLOURS.items()
    )
    head = ["run", "status", "duration", *(render.METRIC_NAMES[k] for k in METRIC_COLOURS)]
    rows = [
        [e(p["run"]), f'<span class="st-{e(p["status"])}">{e(p["status"])}</span>',
         e(dur(p["duration"])), *(e(render._pct(p["metrics"].get(k))) for k in METRIC_COLOURS)]
        for p in points
    ]  # fmt: skip
    return "".join(out) + "</svg>", f'<div class="legend">{legend}</div>', table(head, rows)
