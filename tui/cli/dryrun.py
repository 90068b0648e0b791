"""`phasegate plan PLAN`: the dry run as text: timeline per phase, a Gantt chart per task and
agent, the critical path, slot contention, gate waits and where the estimates came from."""

from __future__ import annotations

import json
import shutil

from phasegate.engine.client.plans import (
    Learned,
    Plan,
    Schedule,
    fallbacks,
    gate_key,
    gate_waits,
    projected,
    retry_extra,
    risk_fallbacks,
)
from phasegate.engine.model.durations import format_duration
from phasegate.tui.text import chain, labelled, safe, terminal_width


def render(
    plan: Plan,
    as_json: bool,
    width: int | None = None,
    learned: dict[str, Learned] | None = None,
) -> str:
    learned = learned or {}
    expected = gate_waits(learned)  # gate -> its median wait for a decision in earlier runs
    standby = set(fallbacks(plan).values()) | set(risk_fallbacks(plan))
    s = projected(plan, learned)  # (the coordination report's schedule: one simulator)
    if as_json:
        return json.dumps(_as_json(plan, s, learned, expected), indent=2)
    # (lists break between names on a terminal, or at a width asked for; a pipe gets them whole)
    wrap = width if width is not None else terminal_width()
    width = width or shutil.get_terminal_size((100, 24)).columns
    name_w = min(max((len(x.task) for x in s.slots), default=4), 20)
    bar_w = max(width - name_w - 24, 10)
    scale = bar_w / s.total if s.total else 0.0
    out = [
        f"dry run of {safe(plan.name)}: {format_duration(s.total)} if every task takes "
        "its estimate (nothing is run)",
        "",
    ]
    critical = set(s.critical_path)
    for phase, start, end in s.phases:
        out.append(
            f"phase {safe(phase)}  {format_duration(start)} → {format_duration(end)}"
            f"  ({format_duration(end - start)})"
        )
        for x in (x for x in s.slots if x.phase == phase):
            lead = int(x.start * scale)
            bar = max(int((x.end - x.start) * scale), 1)
            mark = "█" if x.task in critical else "▒"
            star = "*" if x.task in critical else " "
            out.append(
                f"  {star}{_fit(safe(x.task), name_w)} {_fit(safe(x.agent), 10)} "
                f"{' ' * lead}{mark * bar} {format_duration(x.end - x.start)}"
            )
        for gate in plan.gates:
            if gate.after == phase:
                if gate.approval != "manual":
                    how = "passes on its criteria"
                elif gate.id in expected:
                    runs = learned[gate_key(gate.id)].runs
                    how = (
                        f"waits ~{format_duration(expected[gate.id])} for approval (median of "
                        f"{runs} earlier run{'s' if runs != 1 else ''}; counted)"
                    )
                else:
                    how = "waits for approval (no earlier run: not counted)"
                out.append(f"   ◆ gate {safe(gate.id)}: {how}")
    out.append("")
    # (long lists break between their items at the terminal's width, never inside a name)
    out.append(chain("critical path (*): ", [safe(t) for t in s.critical_path], wrap))
    waits = sorted((x for x in s.slots if x.waited > 0), key=lambda x: -x.waited)
    if waits:
        said = [
            f"{safe(x.task)} waits {format_duration(x.waited)} for {safe(x.waited_for or x.agent)}"
            for x in waits
        ]
        out.append(labelled("slot contention: ", _first(said, 5), ", ", wrap))
    else:
        out.append("slot contention: none (every task starts as soon as its needs are met)")
    guessed = [x.task for x in s.slots if not x.estimated]
    from_history = [x.task for x in s.slots if x.task in learned]
    source = (
        f"from earlier runs (median) for {len(from_history)} of {len(s.slots)} tasks, "
        "else from the plan"
        if from_history
        else "from the plan (no earlier run of it in the database)"
    )
    scheduled = {x.task for x in s.slots}  # (not a task gone from the plan, nor one standing by)
    retries = sorted(
        ((t, lost) for t, lost in retry_extra(learned).items() if t in scheduled),
        key=lambda kv: -kv[1],
    )
    if retries:
        said = [f"{safe(t)} +{format_duration(lost)}" for t, lost in retries]
        out.append(
            labelled(
                "retries counted (earlier runs' average): ",
                _first(said, 5),
                ", ",
                wrap,
            )
        )
    out.append(
        f"estimates: {source}"
        + (
            f"; no estimate, 1s assumed: {', '.join(safe(t) for t in guessed[:8])}"
            + (" ..." if len(guessed) > 8 else "")
            if guessed
            else ""
        )
    )
    if standby:
        said = [safe(t) for t in sorted(standby)]
        out.append(labelled("standing by (run only if needed, not counted): ", said, ", ", wrap))
    if s.unplaceable:
        out.append(f"no agent can take: {', '.join(safe(t) for t in s.unplaceable)}")
    return "\n".join(out)


def _first(items: list[str], n: int) -> list[str]:
    """The first `n` items, and `...` for the rest."""
    return items[:n] + (["..."] if len(items) > n else [])


def _as_json(
    plan: Plan, s: Schedule, learned: dict[str, Learned], expected: dict[str, float]
) -> dict[str, object]:
    retries = retry_extra(learned)
    return {
        "plan": plan.name,
        "total": s.total,
        "critical_path": s.critical_path,
        "phases": [{"id": p, "start": a, "end": b} for p, a, b in s.phases],
        "gate_waits": {g.id: expected.get(g.id) for g in plan.gates if g.approval == "manual"},
        "tasks": [
            {
                "id": x.task,
                "phase": x.phase,
                "agent": x.agent,
                "ready": x.ready,
                "start": x.start,
                "end": x.end,
                "waited": x.waited,
                "waited_for": x.waited_for or None,
                "estimate_from": "history"
                if x.task in learned
                else ("plan" if x.estimated else "default"),
                "retry_s": round(retries.get(x.task, 0.0), 3),
            }
            for x in s.slots
        ],
        "unplaceable": s.unplaceable,
    }


def _fit(text: str, width: int) -> str:
    """`text` in `width` columns: padded, or cut with an ellipsis (two ids with a long common
    start were cut alike, and read as one)."""
    return f"{text:<{width}}" if len(text) <= width else text[: width - 1] + "…"
