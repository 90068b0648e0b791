"""The run header: plan, run id, status, elapsed time, ETA (the engine's forecast, counted down)
and counts by status, on one line. While a manual gate waits for people the status says so
(`waiting for gate review since 10m00s`) and the ETA stops counting down: it is what is left
once the gate is decided (`then ~1m30s`). While nothing runs and nothing starts until a person
resumes the run or the phase under way (paused alone, by a risk rule's `pause` say), the ETA
says `ETA paused`: its time left holds meanwhile."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from phasegate.engine.client import stalled
from phasegate.engine.client.plans import counted_to, seconds_left, waiting_gate
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import RunState
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE, counts_glyphs
from phasegate.tui.text import money, safe

PLAN = 24  # columns of the plan's name, at the most
PLAN_LEAST = 8  # and at the least, when the line is cut to fit
GATE = 16  # columns of a waiting gate's id in the compact line, at the most
GATE_LEAST = 12  # and at the least
# what a narrow header leaves out, step by step, once the compact line does not fit either
_LEAVE = tuple(
    frozenset(parts)
    for parts in (
        ("run",),
        ("run", "counts"),
        ("run", "counts", "plan"),
        ("run", "counts", "plan", "money"),
        ("run", "counts", "plan", "money", "gate"),
    )
)


def _cut(name: str, width: int) -> str:
    return name if len(name) <= width else name[: max(width - 1, 0)] + "…"


class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    _shown: tuple[RunState, str, bool, float] | None = None

    def on_resize(self) -> None:
        """Its width known (or changed): the line fitted to it again (the first one was made
        before the layout, at no width)."""
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, state: RunState, run_id: str, alive: bool, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._shown = (state, run_id, alive, now)
        line = self._line(state, run_id, alive, now, PLAN, None)
        room = self.size.width  # (its content's: the padding is not in it)
        if 0 < room < line.cell_len:  # 80 columns: the times and counts matter more than names
            # compact: the gate's words shorter, its id cut (to leave the plan some room), and
            # the plan's name in what is left, some of it at least (the run id alone says
            # nothing to a reader who did not start it)
            gate = GATE
            bare = self._line(state, run_id, alive, now, 0, gate).cell_len
            gate -= min(GATE - GATE_LEAST, max(0, PLAN_LEAST - (room - bare - 2)))
            spare = room - self._line(state, run_id, alive, now, 0, gate).cell_len - 2
            line = self._line(state, run_id, alive, now, max(spare, PLAN_LEAST), gate)
            # narrower still (60 columns): the status and the times stay whole, and what a
            # reader can find elsewhere gives way first: the run id (`runs`), the counts (the
            # task table), the plan's name, what the agents spent, the waiting gate's id
            for leave in _LEAVE:
                if line.cell_len <= room:
                    break
                gate = 0 if "gate" in leave else GATE_LEAST
                plan = 0
                if "plan" not in leave:
                    bare = self._line(state, run_id, alive, now, 0, gate, leave).cell_len
                    plan = max(room - bare - 2, PLAN_LEAST)
                line = self._line(state, run_id, alive, now, plan, gate, leave)
        self.update(line)

    def _line(
        self,
        state: RunState,
        run_id: str,
        alive: bool,
        now: float,
        plan: int,
        gate_id: int | None,
        leave: frozenset[str] = frozenset(),
    ) -> Text:
        """The header's line: the plan's name cut to `plan` columns (0: left out); the waiting
        gate's id cut to `gate_id` columns in the compact words (None: the whole sentence; 0:
        left out); the parts named in `leave` (`run`, `counts`, `money`) left out."""
        end = state.finished_at if state.finished_at is not None else now
        elapsed = end - state.started_at if state.started_at else None
        status = state.status.value
        if not alive and status in ("running", "paused", "pending") and state.events:
            status = "interrupted"
        parts: list[Text] = []
        if plan:
            parts.append(Text(_cut(safe(state.plan_name or "phasegate"), plan), style="bold"))
        if "run" not in leave:
            parts.append(Text(run_id))
        gate = waiting_gate(state) if alive and status == "running" else None
        if gate is not None:
            since = format_duration(now - (gate.opened_at or now))
            if gate_id == 0:
                words = f"gate waits {since}"
            elif gate_id is not None:
                words = f"gate {safe(_cut(gate.id, gate_id))} waits {since}"
            else:
                words = f"waiting for gate {safe(gate.id)} since {since}"
            parts.append(Text(words, style="bold yellow"))
        else:
            parts.append(Text(status, style=STATUS_STYLE.get(status, "bold")))
        parts.append(Text(format_duration(elapsed)))
        spent = float(state.usage.get("cost_usd", 0.0))
        if spent and "money" not in leave:  # what its coding agents spent
            parts.append(Text(money(spent)))
        left = seconds_left(state, counted_to(state, now, gate))
        if gate is not None and left is not None:  # what is left once the gate is decided
            parts.append(Text(f"then ~{format_duration(left)}"))
        elif gate is None and left is not None and alive and stalled(state):
            parts.append(Text("ETA paused", style=STATUS_STYLE.get("held", "")))  # (not stale)
        elif gate is None and left is not None and alive:
            parts.append(Text(f"ETA {format_duration(left)}"))
        line = Text("  ").join(parts)
        line.no_wrap, line.overflow = True, "ellipsis"
        if "counts" not in leave:  # (as ever: `✓12 ✗1 `, after two spaces even when empty)
            line.append("  ")
            line.append_text(counts_glyphs(state.counts()))
        return line
