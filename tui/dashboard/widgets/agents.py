"""The agent roster: state, slots used/total, current task, time since its last output; an
agent whose task waits for an answer to a permission request is `waiting` (`for you` when the
viewer may answer it); an agent on another host, that host and its round trip (`gpu1 12ms`)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import AgentStatus
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE
from phasegate.tui.text import money, safe

NOW_CHARS = 60  # of an agent's newest line (the column's ellipsis cuts it to the width)


class AgentRoster(Static, can_focus=True):
    DEFAULT_CSS = """
    AgentRoster { border: round $primary-darken-2; height: auto; max-height: 7; padding: 0 1; }
    AgentRoster:focus { border: round $accent; }
    """

    _rows: list[tuple[str, str, str, str]] | None = None

    def on_mount(self) -> None:
        self.border_title = "Agents"

    def show(
        self,
        state: RunState,
        last_output: dict[str, float],
        now: float | None = None,
        mine: Collection[str] = (),
        last_line: Mapping[str, str] | None = None,
    ) -> None:
        """`last_output`: task -> time of its newest output line; an agent is quiet since the
        newest line of its running tasks (or since they started, if they printed nothing).
        `mine`: the open permission requests the viewer may answer (`for you`). `last_line`:
        task -> its newest output line, what the agent does now (a coding agent's last tool
        call or message line), shown after the task."""
        now = time.time() if now is None else now
        asking: dict[str, list[str]] = {}  # task -> its open permission requests
        for p in state.permissions.values():
            if p.status == "open":
                asking.setdefault(p.task, []).append(p.id)
        spend: dict[str, float] = {}  # agent -> what its tasks cost (coding agents)
        for t in state.tasks.values():
            if t.usage and t.agent:
                spend[t.agent] = spend.get(t.agent, 0.0) + float(t.usage.get("cost_usd", 0.0))
        rows: list[tuple[str, str, str, str]] = []
        for a in state.agents.values():
            status = a.status.value
            if a.status is AgentStatus.IDLE and state.finished_at is not None:
                status = "idle"
            # a task that waits for an answer first: what the agent needs, then which task
            current = sorted(a.running, key=lambda t: (t not in asking, t))
            waits = [p for t in current for p in asking.get(t, ())]
            detail = safe(current[0]) if current else "-"
            if waits:  # (the roster is narrow: `for you` only where it is for the viewer)
                status = "waiting"
                if any(p in mine for p in waits):
                    detail = f"for you · {detail}"
            if len(current) > 1:
                detail += f" +{len(current) - 1}"
            if a.host:  # (its tasks run there over SSH: first, the column is narrow)
                where = _reach(a.host, a.rtt_ms, a.unreachable)
                detail = f"{where} · {detail}" if current else where
            marks = [last_output.get(t) or state.tasks[t].started_at for t in current]
            since = max((m for m in marks if m is not None), default=None)
            quiet = int(now - since) if since is not None else 0
            # what it said last, then for how long it has said nothing: on a narrow roster the
            # line is what was cut first (`build · quiet 12s · Running the t…`)
            doing = (last_line or {}).get(current[0], "").strip() if current else ""
            if doing:
                detail += f" · {safe(doing)[:NOW_CHARS]}"
            if quiet >= 1 and not waits:  # whole seconds: the text changes at most once a second
                detail += f" · quiet {format_duration(float(quiet))}"
            spent = spend.get(a.id, 0.0)
            if spent:
                detail += f" · {money(spent)}"
            rows.append((a.id, status, f"{len(a.running)}/{a.slots}", detail))
        if rows == self._rows:
            return  # nothing visible changed: no update, no layout
        self._rows = rows
        self.update(_Roster(rows))


class _Roster:
    """The roster's rows, laid out for the width they are drawn at: each agent's state and
    slots whole, then its name (cut with `…` where it does not fit: `agent-with-a-lo… busy
    1/2 build`), then what it does, cut first."""

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        names = [Text(safe(name), style="bold") for name, _, _, _ in self.rows]
        states = [status.replace("_", " ") for _, status, _, _ in self.rows]

        def widest(cells: list[str]) -> int:
            return max((cell_len(c) for c in cells), default=0)

        # what the name and the detail share: the line less the state, the slots, the gaps
        rest = options.max_width - widest(states) - widest([r[2] for r in self.rows]) - 3
        # the name whole where it leaves the detail half of that; else cut, to half of it
        name = widest([n.plain for n in names])
        name_room = max(min(name, rest // 2), rest - widest([r[3] for r in self.rows]), 1)
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=name_room)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, justify="right")
        grid.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
        for shown, state, (_, status, used, detail) in zip(names, states, self.rows, strict=True):
            grid.add_row(
                shown,
                Text(state, style=STATUS_STYLE.get(status, "")),
                used,
                Text(detail),  # (a task's last line: never read as markup)
            )
        yield grid


def _reach(host: str, rtt_ms: float | None, unreachable: str) -> str:
    """`gpu1 12ms`: the host's name (without user or port: the column is narrow), its last
    round trip."""
    name = host.rpartition("@")[2]
    name = name[1:].partition("]")[0] if name.startswith("[") else name.partition(":")[0]
    if unreachable:
        return f"{safe(name)} unreachable"
    if rtt_ms is None:
        return safe(name)
    return f"{safe(name)} {'<1' if rtt_ms < 1 else f'{rtt_ms:.0f}'}ms"
