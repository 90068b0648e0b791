"""Process groups and process identity, written once: signal a group, TERM it then KILL it after
a grace period, wait for groups to go, and tell whether a pid is still the process that started
at a given time. The local executor, adopted processes, recovery and cancel all use these."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time


def process_start_time(pid: int) -> float:
    """When a process started (epoch seconds), as psutil's create_time computes it on Linux;
    0.0 when there is no such process, or only its zombie (it has exited, its parent has not
    reaped it yet). Cheap: two small reads of /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] in (b"Z", b"X"):
            return 0.0
        return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


@functools.cache
def _boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    return 0.0


def same_process(pid: int | None, started: float | None) -> bool:
    """Is `pid` still the process that started at `started` (not a reused pid)?"""
    if not pid or started is None:
        return False
    now = process_start_time(pid)
    return now > 0 and abs(now - started) < 1.0


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is not ours to signal
    return True


def group_alive(pgid: int) -> bool:
    """Is anything left in the group (zombies count: they are ours to reap)?"""
    return signal_group(pgid, 0)


class GroupKill:
    """TERM a process group, KILL it after a grace period if anything is left; or KILL now."""

    __slots__ = ("_kill_at", "pgid")

    def __init__(self, pgid: int = 0) -> None:
        self.pgid = pgid
        self._kill_at: asyncio.TimerHandle | None = None

    def terminate(self, grace: float) -> None:
        if not self.pgid:
            return
        signal_group(self.pgid, signal.SIGTERM)
        if self._kill_at is None:
            loop = asyncio.get_running_loop()
            self._kill_at = loop.call_later(grace, signal_group, self.pgid, signal.SIGKILL)

    def kill(self) -> None:
        if self.pgid:
            signal_group(self.pgid, signal.SIGKILL)

    def done(self) -> None:
        """The group is gone: no KILL is due any more."""
        if self._kill_at is not None:
            self._kill_at.cancel()


async def stop_groups(pgids: set[int], grace: float) -> None:
    """TERM each process group (not ours), wait up to `grace` seconds, then KILL what is left.
    For groups that are not our children's (a dead engine's): their zombies are reaped by their
    new parent, so only live members count."""
    groups = {g for g in pgids if g > 1 and g != os.getpgrp()}
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        groups = {g for g in groups if _live_members(g)}
        if groups:
            await asyncio.sleep(0.05)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)


def _live_members(pgid: int) -> bool:
    """Does the group have a process that is not a zombie?"""
    import psutil  # (only a take-over needs it)

    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False
