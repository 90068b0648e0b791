"""`on_resume: adopt`: a task attempt that can outlive its engine and be waited for by the next.

Such an attempt runs under a small `sh` wrapper that sends its output to files in the run
directory (not to pipes, which die with the engine) and writes its exit status to a status file.
The engine reads the files as they grow; a new engine that takes the run over finds the process
by its pid and start time, waits for it through a pidfd, and reads its status from the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import Callable

import msgspec

from phasegate.engine.exec.base import Exit
from phasegate.engine.exec.group import GroupKill

POLL = 0.2  # seconds between two reads of the output files
MAX_LINE = 1 << 20  # a longer line is cut into pieces of this size, as the pipe reader does

# $1 $2 $3: the output, error and status files; the rest: the task's command
_WRAPPER = (
    'out=$1 err=$2 st=$3; shift 3; "$@" >>"$out" 2>>"$err"; s=$?; '
    'echo "$s" >"$st.tmp" && mv "$st.tmp" "$st"; exit "$s"'
)


class Files(msgspec.Struct, frozen=True):
    out: str
    err: str
    status: str


def files_for(run_dir: str, task: str, attempt: int) -> Files:
    base = os.path.join(run_dir, "tasks")
    os.makedirs(base, mode=0o700, exist_ok=True)
    stem = os.path.join(base, f"{task}.{attempt}")
    return Files(stem + ".out", stem + ".err", stem + ".status")


def private(files: Files) -> Files:
    """Make the output files before the wrapper appends to them: readable by this user only
    (they hold the task's output as printed, declared secrets and all: the redacted copy is the
    database's). The shell's `>>` would make them as the umask says, 0644."""
    for path in (files.out, files.err):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    return files


class Journal:
    """The attempts this run spawned, one line each (`TASK<tab>ATTEMPT`), in its directory
    (tasks/started), written just before each spawn. A take-over finds there an attempt whose
    start never reached the database (the engine was killed within its batch's window) and
    whose process has already ended: it then runs the task again as a new attempt, instead of
    as the same attempt a second time. One append a spawn and no fsync: it must outlive the
    engine's process (kill -9), as the database's log does, not the machine."""

    NAME = "started"

    def __init__(self, run_dir: str) -> None:
        self._path = os.path.join(run_dir, "tasks", self.NAME) if run_dir else ""
        self._fd: int | None = None

    def note(self, task: str, attempt: int) -> None:
        if not self._path:
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        with contextlib.suppress(OSError):  # (the store's own write fails as loudly)
            if self._fd is not None and _unlinked(self._fd):  # the run directory was removed:
                fd = os.open(self._path, flags, 0o600)  # a take-over reads the one made again
                os.close(self._fd)  # (run/channel), when it is
                self._fd = fd
        with contextlib.suppress(OSError):
            if self._fd is None:
                os.makedirs(os.path.dirname(self._path), mode=0o700, exist_ok=True)
                self._fd = os.open(self._path, flags, 0o600)
            os.write(self._fd, f"{task}\t{attempt}\n".encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @classmethod
    def read(cls, run_dir: str) -> dict[str, int]:
        """task -> the newest attempt the run spawned of it, as far as the journal says."""
        newest: dict[str, int] = {}
        try:
            with open(os.path.join(run_dir, "tasks", cls.NAME), encoding="utf-8") as f:
                for line in f:
                    task, _, number = line.rstrip("\n").partition("\t")
                    if number.isdigit():  # (a line cut short by the kill: no attempt)
                        newest[task] = max(newest.get(task, 0), int(number))
        except OSError:
            pass
        return newest


def clear(run_dir: str) -> None:
    """Remove the attempts' output and status files once the run has ended: the run
    directory keeps no output as printed (no secret) after the run."""
    tasks = os.path.join(run_dir, "tasks")
    try:  # (flat: the journal and the attempts' files; shutil would cost a run its import)
        with os.scandir(tasks) as found:
            entries = list(found)
    except OSError:
        return
    for entry in entries:  # (one that cannot go does not keep the others)
        try:
            if entry.is_dir(follow_symlinks=False):
                import shutil

                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
    with contextlib.suppress(OSError):
        os.rmdir(tasks)


def wrap(argv: list[str], files: Files) -> list[str]:
    return ["/bin/sh", "-c", _WRAPPER, "sh", files.out, files.err, files.status, *argv]


def read_status(files: Files) -> int | None:
    """The exit status the wrapper wrote, or None (still running, or killed before writing)."""
    try:
        with open(files.status) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class FileTail:
    """New complete lines of the two output files; `skip` lines of each already recorded.

    Each file is read from the descriptor opened on it first, never again by its path: the
    task writes into the file it opened, so its lines are read to the last even when the run
    directory is removed under it (an unlinked file lives while open). That it was is said once
    on the engine's log: an engine taking the run over after this one could not read on."""

    def __init__(self, files: Files, skip_out: int = 0, skip_err: int = 0) -> None:
        self._paths = {"out": files.out, "err": files.err}
        self._fds: dict[str, int | None] = {"out": None, "err": None}
        self._partial = {"out": b"", "err": b""}
        self._skip = {"out": skip_out, "err": skip_err}
        self._name = _attempt_name(files.out)
        self._removed = False  # (said once)
        for stream in self._paths:
            if self._open(stream) is None:
                say(f"{self._name}: its output file {self._paths[stream]} is gone: lost")

    def _open(self, stream: str) -> int | None:
        fd = self._fds[stream]
        if fd is None:
            with contextlib.suppress(OSError):
                fd = self._fds[stream] = os.open(self._paths[stream], os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def poll(self, final: bool = False) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        for stream in self._paths:
            fd = self._open(stream)
            if fd is None:
                continue
            data = self._partial[stream] + _read_all(fd)
            *complete, rest = data.split(b"\n")
            if final and rest:
                complete.append(rest)
                rest = b""
            while len(rest) > MAX_LINE:
                complete.append(rest[:MAX_LINE])
                rest = rest[MAX_LINE:]
            self._partial[stream] = rest
            for raw in complete:
                if self._skip[stream] > 0:
                    self._skip[stream] -= 1
                    continue
                lines.append((stream, raw.decode("utf-8", errors="replace")))
            if not self._removed and not final and _unlinked(fd):
                self._removed = True
                say(
                    f"{self._name}: its output files were removed (with the run directory?): "
                    "read on from the files still open; should this engine stop before the "
                    "task ends, the output after that is lost"
                )
        if final:
            self.close()
        say()  # (what waited for the engine's log to be there again)
        return lines

    def close(self) -> None:
        for stream, fd in self._fds.items():
            if fd is not None:
                os.close(fd)
                self._fds[stream] = None


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _unlinked(fd: int) -> bool:
    """An open regular file whose last name was removed (it lives on while open)."""
    try:
        found = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_nlink == 0


def _attempt_name(path: str) -> str:
    """`task T attempt N` from an output file's name (tasks/T.N.out)."""
    task, _, number = os.path.basename(path).rsplit(".", 1)[0].rpartition(".")
    return f"task {task} attempt {number}"


_waiting: list[str] = []  # lines for the engine's log, while its file is removed


def say(text: str = "") -> None:
    """A line on the engine's log (its stderr). While that is a file removed with the run
    directory (no one could read it), the line waits until it is made again (run/channel)."""
    if text:
        _waiting.append(f"phasegate: {text}")
    if not _waiting or _unlinked(2):
        return
    with contextlib.suppress(OSError, ValueError):
        print("\n".join(_waiting), file=sys.stderr, flush=True)
    _waiting.clear()


class AdoptedProcess:
    """A running attempt of a dead engine, waited for through a pidfd (it is not our child, so
    its exit status comes from the status file)."""

    def __init__(self, pid: int | None, files: Files, on_exit: Callable[[Exit], None]) -> None:
        self.pid = pid or 0
        self.pgid = 0
        self._files, self._on_exit = files, on_exit
        self._loop = asyncio.get_running_loop()
        self._fd: int | None = None
        self._group = GroupKill()
        if pid:
            with contextlib.suppress(OSError):
                self.pgid = self._group.pgid = os.getpgid(pid)
                self._fd = os.pidfd_open(pid)
        # ended before this engine came (gone, or a zombie that no one reaped): its status file,
        # the wrapper's last step, was written then
        self._ended = _written_at(files.status)
        if self._fd is None:  # already gone: its status file says how it ended
            self._loop.call_soon(self._exited)
        else:
            self._loop.add_reader(self._fd, self._exited)

    def _exited(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        self._group.done()
        code = read_status(self._files)
        if code is None and not os.path.exists(self._files.out):
            why = "its exit status was lost: its files were removed (with the run directory?)"
            say(f"{_attempt_name(self._files.out)}: {why}")
            self._on_exit(Exit(None, why))
        elif code is None:
            self._on_exit(Exit(None, "ended without an exit status (killed while adopted?)"))
        else:
            self._on_exit(Exit(code, ended_at=self._ended))

    def terminate(self, grace: float) -> None:
        if self._fd is not None:
            self._group.terminate(grace)

    def kill(self) -> None:
        self._group.kill()

    def write(self, data: bytes) -> bool:
        return False  # (its input is not ours: it was started by an engine that died)

    def close_stdin(self) -> None:
        pass


def _written_at(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
