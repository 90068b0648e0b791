"""A running attempt's output lines as the run keeps them: redacted before anything else sees
them (a secret printed across several lines is held until it can be seen whole), counted
against the plan's output cap (a line longer than all of it is cut to its tail), watched for a
results summary, kept as the transcript a coding agent's next attempt is given, and sent to the
store: a part of the run (run/attempts)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from phasegate.engine.model.secrets import LineWindow, Redactor
from phasegate.engine.store.base import OutputDrop, OutputLine

if TYPE_CHECKING:
    from phasegate.engine.run.attempts import _Attempt
    from phasegate.engine.run.host import Host
    from phasegate.engine.store.sink import Sink

HISTORY_LINES = 30  # of an attempt's transcript given to the next (a session that cannot go on)
DROP_EVERY = 10_000  # lines dropped by the output cap between two deletes


def cut_to(text: str, cap: int) -> str:
    """`text` as kept under an output cap of `cap`: whole when it fits (with its newline), else
    its tail after a mark saying what was cut (the cap keeps the tail of the output, and of a
    line longer than all of it: one such line had left nothing, and no word of it)."""
    if len(text) < cap:
        return text
    mark = f"«output_cap: the first {{:,}} of {len(text):,} characters of this line cut»…"
    tail = max(0, cap - 1 - len(mark.format(len(text))))
    return mark.format(len(text) - tail) + text[len(text) - tail :]


class Output:
    """The attempts' output lines, from their executors to the store."""

    def __init__(self, host: Host, redactor: Redactor) -> None:
        self._host = host
        self._redactor = redactor
        self._redact = redactor.text
        self._split = bool(redactor.secrets)  # hold lines: a secret may span several
        self.sink: Sink  # set by the loop once the run's store is open
        self.last_output: dict[str, float] = {}  # task -> time of its last output line
        self.last_line: dict[str, str] = {}  # task -> that line (a silent agent's last activity)
        # task -> the last lines of its coding agent's transcript (its next attempt's history)
        self._transcripts: dict[str, deque[str]] = {}

    def history(self, tid: str) -> tuple[str, ...]:
        """The last lines of the task's coding-agent transcript (for its next attempt)."""
        return tuple(self._transcripts.get(tid, ()))

    def line(self, a: _Attempt, stream: str, text: str) -> None:
        """A line of output, redacted before it is kept: a secret is never stored, not even
        one printed across several lines (they are held until it can be seen whole)."""
        if not self._split:
            self._keep(a, stream, self._redact(text))
            return
        self.last_output[a.task.id] = self._host.now()
        window = a.windows.get(stream)
        if window is None:
            window = a.windows[stream] = LineWindow(self._redactor)
        for line in window.push(text):
            self._keep(a, stream, line)

    def flush(self, attempts: Iterable[_Attempt]) -> None:
        """Keep the lines held for secrets (an attempt's end; once a second for the rest)."""
        for a in list(attempts):
            for stream, window in a.windows.items():
                for line in window.flush():
                    self._keep(a, stream, line)

    def _keep(self, a: _Attempt, stream: str, text: str) -> None:
        cap = self._host.plan.output_cap
        text = cut_to(text, cap)  # (after redaction: a secret is replaced whole, never cut)
        a.lines += 1
        now = self._host.now()
        self.last_output[a.task.id] = now
        self.last_line[a.task.id] = text
        if a.summary is not None:
            a.summary.line(text)
        if a.talk is not None:
            kept = self._transcripts.get(a.task.id)
            if kept is None or a.lines == 1:  # (a new attempt's transcript replaces the last)
                kept = self._transcripts[a.task.id] = deque(maxlen=HISTORY_LINES)
            kept.append(text)
        self.sink.output(
            OutputLine(self._host.state.run_id, a.task.id, a.number, a.lines, stream, text, now)
        )
        size = len(text) + 1
        a.sizes.append(size)
        a.bytes += size
        while a.bytes > cap and a.sizes:
            a.bytes -= a.sizes.popleft()
            a.dropped += 1
        if a.dropped - a.dropped_written >= DROP_EVERY:
            self.write_drop(a)

    def write_drop(self, a: _Attempt) -> None:
        """Delete from the store the attempt's lines the output cap has dropped since the last
        delete (every DROP_EVERY lines, and at its end)."""
        if a.dropped > a.dropped_written:
            a.dropped_written = a.dropped
            run_id = self._host.state.run_id
            self.sink.drop(OutputDrop(run_id, a.task.id, a.number, a.dropped + 1))
