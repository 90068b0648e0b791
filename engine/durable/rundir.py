"""The run directory made again after it was removed while the run went on (run/channel makes
it again with the run's socket): what the engine keeps there comes back too. The engine's log,
when the engine's output went to the removed one (what it said before is lost, and the new log
says so); and `tasks/`, where the attempts that may be adopted write their exit status (an
adopted attempt's status is read from there: engine/exec/adopt.py)."""

from __future__ import annotations

import contextlib
import os
import sys

from phasegate.engine.exec.adopt import say

LOG = "engine.log"


def restore(run_dir: str, group: int | None = None) -> None:
    """Make again in `run_dir` (just made again) what the engine keeps there; `group`: the
    run's group when it is shared."""
    with contextlib.suppress(OSError):  # (there already, or its directory gone again)
        os.mkdir(os.path.join(run_dir, "tasks"), 0o700)
    path = os.path.join(run_dir, LOG)
    if _output_file() != os.path.realpath(path) + " (deleted)":
        return  # (a terminal, a log elsewhere, or the log was not removed)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        say(f"the run directory {run_dir} was removed; its {LOG} cannot be made again: {exc}")
        return
    with contextlib.suppress(OSError):
        if group is not None:
            os.fchown(fd, -1, group)
            os.fchmod(fd, 0o640)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        if os.path.sameopenfile(1, 2):  # (stdout went to the log too: it does so again)
            os.dup2(fd, 1)
        os.dup2(fd, 2)
    except OSError:
        return
    finally:
        os.close(fd)
    with contextlib.suppress(OSError, ValueError):  # (before what waited for the log: say)
        print(
            f"phasegate: the run directory {run_dir} was removed: {LOG} made again (what it "
            "held is lost)",
            file=sys.stderr,
            flush=True,
        )
    say()


def _output_file() -> str:
    """What the engine's stderr names ("PATH (deleted)" for a removed file)."""
    try:
        return os.readlink("/proc/self/fd/2")
    except OSError:
        return ""
