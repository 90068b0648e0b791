"""Local processes: spawn in a new session with pipes, stream output by line, kill the group, reap.

The fast path is `os.posix_spawn` (with `setsid`) plus a pidfd, with the pidfd and the pipes in one
epoll set that the event loop watches as a single reader: no thread, no asyncio transport and no
loop registration per child. A task ends when
its main process exits; output still arriving from processes it left behind is drained briefly,
then whatever remains in its process group, and every process elsewhere that carries the attempt's
PHASEGATE_* tag in its environment (a `setsid` or daemonized child: engine/exec/strays), is
terminated (TERM, grace, KILL), unless the task keeps its background.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import signal
import sys
from collections.abc import Callable

import msgspec

from phasegate.engine.exec.adopt import AdoptedProcess, Files
from phasegate.engine.exec.argv import resolve
from phasegate.engine.exec.base import Exit, Handle, ProcSpec
from phasegate.engine.exec.group import GroupKill, group_alive, process_start_time, signal_group
from phasegate.engine.exec.strays import (
    Stray,
    Tag,
    describe,
    find,
    is_subreaper,
    leaders,
    reap,
    signal_all,
    still_running,
    stop_strays,
)

LEFTOVER_GRACE = 2.0  # TERM to KILL for what a finished task left, unless its spec says
DRAIN_SECONDS = 0.5  # how long output from leftover processes is drained after the main exit
REAP_EVERY = 1.0  # how often a subreaper engine reaps the orphans it inherited
_READ = 65536
# a task starts with these at their default: Python ignores SIGPIPE and SIGXFSZ, and a child
# would inherit that (as subprocess's restore_signals does)
SIGDEF = (signal.SIGPIPE, signal.SIGXFSZ)


class _Stream(msgspec.Struct):
    fd: int
    name: str
    buf: bytearray = bytearray()
    open: bool = True


class LocalProcess:
    """One spawned task process and its pipes, driven by event-loop callbacks."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
        devnull: int,
        fds: _FdWatch,
    ) -> None:
        self._loop = loop
        self._fds = fds
        self._on_line = on_line
        self._on_exit = on_exit
        self._keep = spec.keep_background
        self._grace = LEFTOVER_GRACE if spec.kill_grace is None else spec.kill_grace
        self._tag = None if self._keep else Tag.of_env(spec.env)
        self._strays: list[Stray] = []  # what it left outside its group, found at its end
        self._status: int | None = None
        self._done = False
        self._group = GroupKill()
        self._drain: asyncio.TimerHandle | None = None
        self.pid = self.pgid = 0
        out_r, out_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        err_r, err_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._streams = (_Stream(out_r, "out"), _Stream(err_r, "err"))
        os.set_blocking(out_w, True)
        os.set_blocking(err_w, True)
        self._stdin = -1
        stdin = devnull
        if spec.stdin:
            stdin, self._stdin = os.pipe2(os.O_CLOEXEC)
        actions = [
            (os.POSIX_SPAWN_DUP2, stdin, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ]
        try:
            self.pid = _spawn(spec, actions)
        except OSError as exc:
            os.close(out_w)
            os.close(err_w)
            if spec.stdin:
                os.close(stdin)
                self.close_stdin()
            for s in self._streams:
                os.close(s.fd)
            if isinstance(exc, _NoWorkdir):
                reason, code = str(exc.strerror), 126
            else:
                reason = f"cannot run {spec.argv[0]!r}: {exc.strerror}"
                code = 127 if isinstance(exc, FileNotFoundError) else 126
            loop.call_soon(self._fail_to_start, code, reason)
            return
        leaders.add(self.pid)  # (its exit status is ours to read: not reaped as an orphan)
        os.close(out_w)
        os.close(err_w)
        if spec.stdin:
            os.close(stdin)
        self.pgid = self._group.pgid = self.pid
        self._pidfd = os.pidfd_open(self.pid)
        fds.watch(self._pidfd, self._exited)
        out, err = self._streams
        fds.watch(out.fd, lambda: self._readable(out))
        fds.watch(err.fd, lambda: self._readable(err))

    def _fail_to_start(self, code: int, reason: str) -> None:
        self._done = True
        self._on_line("err", f"phasegate: {reason}")
        self._on_exit(Exit(code, reason))

    def _readable(self, s: _Stream) -> None:
        self._read(s)
        if self._status is not None and not any(x.open for x in self._streams):
            self._finish()

    def _read(self, s: _Stream) -> bool:
        """Read what is there; False when the pipe would block (a writer is still alive)."""
        while s.open:
            try:
                data = os.read(s.fd, _READ)
            except BlockingIOError:
                return False
            except OSError:
                data = b""
            if not data:
                self._close_stream(s)
                return True
            end = data.rfind(b"\n")
            if end < 0:
                s.buf += data
                continue
            s.buf += data[:end]
            for raw in s.buf.split(b"\n"):
                self._on_line(s.name, raw.decode("utf-8", "replace"))
            s.buf = bytearray(data[end + 1 :])
        return True

    def _close_stream(self, s: _Stream) -> None:
        if s.buf:
            self._on_line(s.name, bytes(s.buf).decode("utf-8", "replace"))
            s.buf.clear()
        s.open = False
        self._fds.close(s.fd)

    def _exited(self) -> None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:  # not yet: a stale readiness report for a reused fd number
            return
        leaders.discard(self.pid)
        self._fds.close(self._pidfd)
        self._status = os.waitstatus_to_exitcode(status)
        drained = all(self._read(s) for s in self._streams)
        if drained:
            self._finish()
        else:
            self._drain = self._loop.call_later(DRAIN_SECONDS, self._finish)

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self.close_stdin()
        self._group.done()
        if self._drain is not None:
            self._drain.cancel()
        for s in self._streams:
            if s.open:
                with contextlib.suppress(BlockingIOError):
                    self._read(s)
                if s.open:
                    self._close_stream(s)
        if self._keep:
            self._on_exit(Exit(self._status))
            return
        if self._tag is not None:
            tag = self._tag
            self._strays = find(tag.run_id, tag.task, tag.attempt)
        if not self._signal_leftovers(signal.SIGTERM):
            self._on_exit(Exit(self._status))
            return
        # the task ends when what it left behind is gone: checked every few ms, KILLed after
        # the grace period, so that a finished task never leaves a process running
        deadline = self._loop.time() + self._grace
        self._loop.call_later(0.01, self._reap_leftovers, deadline, False)

    def _signal_leftovers(self, sig: int) -> bool:
        """Signal what is left in the task's group and what it left elsewhere; False when
        nothing is left."""
        reap()  # (as a subreaper, the group's exited members are ours to reap)
        in_group = signal_group(self.pgid, sig)
        return signal_all(self._strays, sig) or in_group

    def _reap_leftovers(self, deadline: float, killed: bool) -> None:
        left = still_running(self._strays)
        if not left and not group_alive(self.pgid):
            self._end()
            return
        if not killed and self._loop.time() >= deadline:
            self._signal_leftovers(signal.SIGKILL)
            killed = True
        if killed and self._loop.time() >= deadline + self._grace:
            self._end()  # unkillable (uninterruptible sleep): give up
            return
        self._loop.call_later(0.02, self._reap_leftovers, deadline, killed)

    def _end(self) -> None:
        if self._strays:
            self._on_line("err", f"phasegate: {describe(self._strays)}")
        self._on_exit(Exit(self._status))

    @property
    def exited(self) -> bool:
        """Its main process has exited: the task has ended (what it left may still be
        drained and stopped, which is no part of its time)."""
        return self._status is not None

    def terminate(self, grace: float) -> None:
        if self._done or self._status is not None:
            return
        self._group.terminate(grace)

    def kill(self) -> None:
        self._group.kill()
        signal_all(self._strays, signal.SIGKILL)

    def write(self, data: bytes) -> bool:
        """A few lines of a protocol (a pipe holds 64 KiB: a blocking write is short)."""
        if self._stdin < 0:
            return False
        try:
            os.write(self._stdin, data)
        except OSError:  # it closed its input or exited
            self.close_stdin()
            return False
        return True

    def close_stdin(self) -> None:
        if self._stdin >= 0:
            with contextlib.suppress(OSError):
                os.close(self._stdin)
            self._stdin = -1


class _NoWorkdir(OSError):
    pass


def _spawn(spec: ProcSpec, actions: list[tuple[int, int, int]]) -> int:
    exe = spec.argv[0]
    fn = os.posix_spawn
    if "/" not in exe:
        found = resolve(exe, spec.env.get("PATH"))
        if found is None:
            fn = os.posix_spawnp
        else:
            exe = found
    spawn = functools.partial(
        fn, exe, spec.argv, spec.env, file_actions=actions, setsid=True, setsigdef=SIGDEF
    )
    here = os.getcwd() if spec.cwd else None
    if here is not None and here != spec.cwd:
        try:
            os.chdir(spec.cwd)  # posix_spawn has no chdir action before Python 3.13
        except OSError as exc:
            raise _NoWorkdir(
                exc.errno, f"cannot enter the workdir {spec.cwd}: {exc.strerror}"
            ) from None
        try:
            return spawn()
        finally:
            os.chdir(here)
    return spawn()


class _FdWatch:
    """One epoll set for every child's pidfd and pipes, watched by the loop as a single reader."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._handlers: dict[int, Callable[[], None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, fd: int, handler: Callable[[], None]) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._ep.fileno(), self._dispatch)
        self._handlers[fd] = handler
        self._ep.register(fd, select.EPOLLIN)

    def close(self, fd: int) -> None:
        """Stop watching `fd` and close it: closing takes it out of the epoll set (only this
        process holds these fds: they are close-on-exec), so no epoll_ctl call is needed."""
        self._handlers.pop(fd, None)
        os.close(fd)

    def _dispatch(self) -> None:
        for fd, _ in self._ep.poll(0):
            handler = self._handlers.get(fd)
            if handler is not None:
                handler()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._ep.fileno())
            self._loop = None
        self._ep.close()


class LocalExecutor:
    """Runs task processes on this machine."""

    def __init__(self) -> None:
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._fds = _FdWatch()
        self._runs: dict[str, set[str]] = {}  # run id -> its tasks that keep their background
        # runs taken over with an attempt adopted: what the dead engine's tasks left running was
        # given to init, not to this engine (its subreaper tree does not hold it): looked for
        # on the whole machine, by the run's id, as the run ends
        self._adopted: set[str] = set()
        self._grace = LEFTOVER_GRACE
        self._reaping: asyncio.TimerHandle | None = None

    def start(
        self,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> LocalProcess:
        loop = asyncio.get_running_loop()
        tag = Tag.of_env(spec.env)
        if tag is not None:
            keep = self._runs.setdefault(tag.run_id, set())
            if spec.keep_background:
                keep.add(tag.task)
            if spec.kill_grace is not None:
                self._grace = spec.kill_grace
        if self._reaping is None and is_subreaper():
            self._reaping = loop.call_later(REAP_EVERY, self._reap)
        return LocalProcess(loop, spec, on_line, on_exit, self._devnull, self._fds)

    def _reap(self) -> None:
        """Orphans that exit while their task runs on (or after a task that keeps its
        background) are reaped as they go, not piled up until the run ends."""
        reap()
        self._reaping = asyncio.get_running_loop().call_later(REAP_EVERY, self._reap)

    def adopt(
        self,
        pid: int | None,
        files: Files,
        on_exit: Callable[[Exit], None],
        run: tuple[str, str, bool] = ("", "", False),
    ) -> Handle:
        """A process a dead engine started (`on_resume: adopt`): waited for through a pidfd,
        its exit status read from its status file. `run`: (its run's id, its task, whether the
        task keeps its background), so that what it leaves is stopped as the run ends."""
        run_id, task, keep = run
        if run_id:
            self._adopted.add(run_id)
            kept = self._runs.setdefault(run_id, set())
            if keep:
                kept.add(task)
        return AdoptedProcess(pid, files, on_exit)

    def started_at(self, handle: Handle) -> float | None:
        return process_start_time(handle.pid) or None

    def close(self) -> None:
        """The run is over: stop what its tasks left running anywhere (but the background of
        those that keep it), say so on the engine's log, and release the executor."""
        if self._reaping is not None:
            self._reaping.cancel()
            self._reaping = None
        for run_id, keep in self._runs.items():
            anywhere = run_id in self._adopted
            strays = stop_strays(run_id, grace=self._grace, keep=keep, everywhere=anywhere)
            if strays:
                print(f"phasegate: run {run_id}: {describe(strays)}", file=sys.stderr, flush=True)
        self._runs.clear()
        self._fds.stop()
        with contextlib.suppress(OSError):
            os.close(self._devnull)
