"""A short command run to its end for what it says: a readiness probe, a gate's criterion, a
monitor, a research query, a notification. Here or on an agent's host (its executor)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import msgspec

from phasegate.engine.exec.argv import argv_for
from phasegate.engine.exec.base import Executor, Exit, ProcSpec
from phasegate.engine.exec.local import LocalExecutor

REAP_WAIT = 2.0  # how long a killed command's exit is awaited (its pipes drained, it reaped)


class Captured(msgspec.Struct):
    """How a short command ended, with the tail of what it printed on stdout."""

    code: int | None
    error: str = ""
    lines: list[str] = []


async def run_capture(
    command: str | list[str],
    cwd: str,
    env: dict[str, str],
    timeout: float,
    keep: int = 20,
    executor: Executor | None = None,
) -> Captured:
    """Run a short command (a probe, a criterion; a string, or its argv) to completion,
    keeping its last lines; here, or on `executor` (an agent's host: its `ready` probe).
    Cancelled, it kills the command's process group at once: nothing it started outlives it
    (but what left its group: `setsid`)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Exit] = loop.create_future()
    out: deque[str] = deque(maxlen=keep)
    last: list[str] = [""]

    def on_line(stream: str, line: str) -> None:
        if stream == "out":
            out.append(line)
        if line.strip():
            last[0] = line

    def on_exit(result: Exit) -> None:
        if not done.done():
            done.set_result(result)

    own = executor is None
    if executor is None:
        executor = LocalExecutor()
    try:
        argv = argv_for(command) if isinstance(command, str) else command
        proc = executor.start(ProcSpec(argv, env, cwd), on_line, on_exit)
        try:
            try:
                result = await asyncio.wait_for(asyncio.shield(done), timeout)
            except TimeoutError:
                proc.terminate(1.0)
                await asyncio.shield(done)
                return Captured(None, f"timed out after {timeout:g}s", list(out))
        except asyncio.CancelledError:
            # nobody waits for it any more (a monitor at the run's end, a stopped notify): its
            # group is killed now, and its exit awaited briefly, so that it is reaped
            if not done.done():
                proc.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(done), REAP_WAIT)
            raise
        error = result.error or ("" if result.code == 0 else last[0][:200])
        return Captured(result.code, error, list(out))
    finally:
        if own:
            executor.close()
