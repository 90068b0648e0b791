"""Attempts on an SSH host that no session of this engine follows: one lost with its connection
(kept per host, stopped there before the host runs anything new) and a dead engine's (settled).

An attempt whose connection was not made again within `ssh.connect_timeout` ends failed, but its
process may still be running on the host (it does not depend on its session). Its retry must not
run beside it: the host's next connection first stops every such attempt's process group, found
by the pid file in its directory (TERM, then KILL after the attempt's grace), and the line saying
so goes to that task's next attempt. A new attempt on the host waits for that connection (up to
`connect_timeout`), else fails unrun, its reason naming what may still run there, with pids. A dead
engine's attempt on a host a take-over cannot reach is kept the same way before it is run again,
and so is one a dead engine gave up with its connection (its `task.finished` names the host and
process group; the fold keeps it, the take-over tells it here: `keep`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.exec import ssh_boot as boot
from phasegate.engine.exec.ssh_connect import SshError, asyncssh

if TYPE_CHECKING:
    from phasegate.engine.exec.ssh import SshExecutor


class Lost(msgspec.Struct, frozen=True):
    """An attempt given up with its connection, whose process may live on."""

    task: str  # its PHASEGATE_TASK ("" for a command that is not a task's)
    attempt: int
    dir: str  # its directory on the host, relative to the remote home
    pgid: int  # its wrapper's pid and process group, 0 when the session never told it
    grace: float  # TERM to KILL
    keep_background: bool

    def pid(self) -> str:
        return f"pid {self.pgid}" if self.pgid else f"its pid in ~/{self.dir}/pid"

    def name(self) -> str:
        return (
            f"attempt {self.attempt} of {self.task}" if self.task else f"the command in {self.dir}"
        )


class LostAttempts:
    def __init__(self, host: str) -> None:
        self.host = host
        self._lost: dict[str, Lost] = {}  # by directory
        self._said: dict[str, list[str]] = {}  # task -> lines for its next attempt

    def add(self, lost: Lost) -> None:
        self._lost[lost.dir] = lost

    def keep(
        self, run_id: str, task: str, attempt: int, pgid: int, grace: float, keep_bg: bool
    ) -> None:
        """An attempt a dead engine gave up here with its connection (its `task.finished` says
        so, and a take-over tells it): stopped as one this engine lost."""
        self.add(Lost(task, attempt, boot.task_dir(run_id, task, attempt), pgid, grace, keep_bg))

    def __bool__(self) -> bool:
        return bool(self._lost)

    def note(self) -> str:
        """What may still be running on the host ("" when nothing is)."""
        return "; ".join(
            f"{lost.name()} may still be running on {self.host} ({lost.pid()})"
            for lost in self._lost.values()
        )

    async def stop_on(self, conn: Any) -> None:
        """`stop_all` over a new connection: closed, and SshError raised, when that fails."""
        if not self._lost:
            return
        try:
            await self.stop_all(conn)
        except (OSError, asyncssh.Error, SshError) as exc:
            conn.close()
            raise SshError(f"{self.host}: {exc}") from None
        except BaseException:
            conn.close()
            raise

    async def stop_all(self, conn: Any) -> None:
        """Stop them all over `conn` (a new connection, before anything else runs on it);
        raises what the connection raises, or SshError; those not stopped are kept."""
        await asyncio.gather(*(self._stop(conn, lost) for lost in list(self._lost.values())))

    async def _stop(self, conn: Any, lost: Lost) -> None:
        script = boot.stop_lost(lost.dir, lost.grace, lost.keep_background)
        done = await conn.run(script, check=False)
        if done.exit_status != 0:  # (kept: the host is not run on until it is stopped)
            why = str(done.stderr or "").strip() or f"exit status {done.exit_status}"
            raise SshError(f"{lost.name()} on {self.host} could not be stopped: {why}")
        self._lost.pop(lost.dir, None)
        said, _, pid = str(done.stdout or "").strip().partition(" ")
        where = f"{lost.name()}, lost with its connection to {self.host}"
        if said == "stopped":
            line = f"phasegate: {where}, was still running there (pid {pid}): stopped first"
        elif said == "ended":
            line = f"phasegate: {where}, had ended there (pid {pid})"
        else:
            return
        self._said.setdefault(lost.task, []).append(line)

    def said(self, task: str) -> list[str]:
        """The lines for the task's next attempt about its lost ones (once)."""
        return self._said.pop(task, []) if task else []


async def settle(
    ex: SshExecutor, run_id: str, task: str, attempt: int, action: str
) -> tuple[str, str, str]:
    """A dead engine's attempt on `ex`'s host, after a take-over: (`adopted` or `rerun` or the
    action, why, the host it is lost on). Its group is stopped unless it is adopted; a host that
    cannot be reached keeps it as lost, so that it is stopped before the host runs anything new
    (the take-over records the host: an engine taking the run over after this one knows it)."""
    d, host = boot.task_dir(run_id, task, attempt), ex.key
    try:
        state = (await ex.run(boot.status_of(d))).strip()
    except (OSError, asyncssh.Error, SshError) as exc:
        ex.lost.add(Lost(task, attempt, d, 0, 5.0, False))
        return ("rerun" if action == "adopt" else action), f"{host} unreachable: {exc}", host
    if action == "adopt":
        if state.startswith("done"):
            return "adopted", f"it ended with exit code {state.split()[1]} on {host}", ""
        if state.startswith("running"):
            return "adopted", f"its process {state.split()[1]} on {host} lives on", ""
        return "rerun", f"its process on {host} is gone and left no exit status: run again", ""
    if state.startswith("running"):
        with contextlib.suppress(OSError, asyncssh.Error, SshError):
            await ex.run(boot.stop_group(int(state.split()[1]), 5.0))
        return action, f"its process group on {host} was stopped", ""
    return action, "", ""
