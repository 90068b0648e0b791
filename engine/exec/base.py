"""The executor seam: where a task's process runs. An executor starts a process spec, streams its
output line by line, signals its whole process group, reports its exit, and adopts a process a
dead engine left running. Local process groups are today's implementation (`local`); agents on
other machines (SSH, a Dask cluster) plug in here with the same guarantees."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    from phasegate.engine.exec.adopt import Files


class ProcSpec(msgspec.Struct):
    """What to run: the argv (never a shell string), its environment and working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    keep_background: bool = False  # processes it leaves behind may outlive it
    kill_grace: float | None = None  # TERM to KILL for what it leaves; None: the executor's
    stdin: bool = False  # a pipe the engine writes to (an agent spoken to in its protocol)
    # the plan's resources the task uses (`uses:`): counted by the engine; a cluster executor
    # also asks its scheduler for them (Dask `resources=`)
    resources: dict[str, int] = {}
    # the task's declared outputs, relative to where it runs: an executor on another host
    # looks for them there when it succeeds (Exit.missing); a local one leaves that to the run
    outputs: list[str] = []


class Exit(msgspec.Struct):
    code: int | None  # exit code, or -N when killed by signal N, None if it never started
    error: str = ""  # why it could not be started
    # the spec's outputs not found where it ran (another host); None: not looked for there
    missing: list[str] | None = None
    # when it ended, if before its engine could see it: an adopted attempt that ended while no
    # engine ran (its status file's time). None: it ended as it was seen.
    ended_at: float | None = None
    # given up with its connection to another host, where its process may still run: that
    # host's key and the process group (0: never told), kept so that a take-over stops it there
    lost_on: str = ""
    lost_pgid: int = 0


class Handle(Protocol):
    """A started (or adopted) process and its group."""

    pid: int
    pgid: int

    def terminate(self, grace: float) -> None:
        """TERM the process group, then KILL it after `grace` seconds if anything is left."""

    def kill(self) -> None:
        """KILL the process group now (the engine is stopping)."""

    def write(self, data: bytes) -> bool:
        """Write to the process's stdin (a spec with `stdin`); False once it is closed."""
        ...

    def close_stdin(self) -> None:
        """End the process's input (an agent reads that as: no more prompts)."""
        ...


class Executor(Protocol):
    def start(
        self,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> Handle:
        """Start the spec in a new session; `on_line(stream, text)` for each line of its
        output ("out" or "err"), `on_exit` once, when it and its group are done."""
        ...

    def started_at(self, handle: Handle) -> float | None:
        """The process's identity beside its pid: when it started (a pid is not reused
        unseen), or None when this executor cannot tell."""
        ...

    def close(self) -> None:
        """Release what the executor holds (the run is over)."""
        ...


class Adopting(Executor, Protocol):
    """An executor of this machine's processes, which can also wait for one that a dead engine
    started and left running (`on_resume: adopt`). A task on another host is followed there
    by its own executor instead (`settle`, `follow`)."""

    def adopt(
        self,
        pid: int | None,
        files: Files,
        on_exit: Callable[[Exit], None],
        run: tuple[str, str, bool] = ("", "", False),
    ) -> Handle:
        """Wait for a process a dead engine started and left running (its output and exit
        status go to `files`); `on_exit` once it is done. `run`: (its run's id, its task,
        whether the task keeps its background): what it leaves is stopped as the run ends."""
        ...
