"""`python -m phasegate.engine`: the engine process a front end launches for one run.

Its job comes on stdin: a `phasegate.engine.host.Job`, pickled by the launcher (the plan already
parsed and validated there, so it is not parsed twice). With `--ready-fd N` (a pipe's write end the
launcher passed down) it writes one line, `ok PID`, once this process holds the run's lease, and
closes it; closed without that line, the engine did not take the run (its log says why). The exit
code is the command line's: 0 succeeded, 1 failed, 2 unusable job, 130 Ctrl-C, 143 SIGTERM. Imports
neither click nor textual nor tui."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import sys

from phasegate.engine.exec.strays import become_subreaper
from phasegate.engine.host import Job, exit_code, host
from phasegate.engine.model.errors import PhasegateError, UsageError

USAGE = (
    "usage: python -m phasegate.engine [--ready-fd N] < JOB (a pickled phasegate.engine.host.Job)"
)


def _ready_fd(argv: list[str]) -> int | None:
    if not argv:
        return None
    if len(argv) == 2 and argv[0] == "--ready-fd" and argv[1].isdigit():
        return int(argv[1])
    print(f"{USAGE}\nunexpected arguments: {' '.join(argv)}", file=sys.stderr)
    raise SystemExit(2)


def _read_job() -> Job:
    # the plan is long-lived: no collection while it is unpickled, then frozen out of later ones
    gc.disable()
    try:
        job = pickle.load(sys.stdin.buffer)
    except Exception as exc:
        raise UsageError(f"the engine's job could not be read: {exc}") from exc
    finally:
        gc.freeze()
        gc.enable()
    if not isinstance(job, Job):
        raise UsageError(f"the engine's job is a {type(job).__name__}, not a Job")
    # the tasks get /dev/null for stdin anyway; the launcher's pipe is not kept open
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return job


def main(argv: list[str] | None = None) -> int:
    ready = _ready_fd(sys.argv[1:] if argv is None else argv)
    if ready is not None:
        os.set_inheritable(ready, False)  # never handed on to a task's processes
    open_fds = [ready] if ready is not None else []

    def started() -> None:
        """The lease is held: tell the launcher, once."""
        while open_fds:
            fd = open_fds.pop()
            try:
                os.write(fd, f"ok {os.getpid()}\n".encode())
            except OSError:
                pass  # the launcher is gone; the run goes on
            finally:
                os.close(fd)

    # (a run not taken closes the pipe without a word when this process exits, after its
    # last words reached the log)
    # the orphans of the run's tasks (a `setsid` child, a daemon) come to this process, so that
    # they are found and stopped when their task ends (engine/exec/strays.py)
    become_subreaper()
    try:
        job = _read_job()
        state, sig = asyncio.run(host(job, on_started=started))
    except PhasegateError as exc:
        print(f"phasegate: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return exit_code(state, sig)


if __name__ == "__main__":
    sys.exit(main())
