"""A short command run to its end for what it says: a readiness probe, a gate's criterion, a
monitor, a research query, a notification. Here or on an agent's host (its executor)."""

from __future__ import annotations

import asyncio
from collections import deque

import msgspec

from phasegate.engine.exec.argv import argv_for
from phasegate.engine.exec.base import Executor, Exit, ProcSpec
from phasegate.engine.exec.local import LocalExecutor


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
    keeping its last lines; here, or on `executor` (an agent's host: its `ready` probe)."""
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
            result = await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            proc.terminate(1.0)
            await done
            return Captured(None, f"timed out after {timeout:g}s", list(out))
        error = result.error or ("" if result.code == 0 else last[0][:200])
        return Captured(result.code, error, list(out))
    finally:
        if own:
            executor.close()
