"""What a task leaves running outside its process group (a daemon, a `setsid` child): found by the
PHASEGATE_RUN_ID, PHASEGATE_TASK and PHASEGATE_ATTEMPT its environment carries, and stopped.

The engine process makes itself a child subreaper (Linux), so that a task's orphans are given to
it instead of init: they stay in its own process tree, where a task's end finds them by reading a
few /proc files instead of every process's environment, and where they are surely its own (another
engine's run, even one with the same id in a test, is never touched). Where the kernel keeps no
list of a process's children in /proc (CONFIG_PROC_CHILDREN is off in some kernels and
sandboxes), one scan of every process's parent replaces it. The engine reaps those that
exit; only orphans, never a process it spawned and waits for itself (`leaders`): a task's exit
status is read by its own waitpid in the local executor. A process that is not a subreaper (a
Runner inside a test) finds no strays: only its tasks' process groups are stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable

import msgspec

from phasegate.engine.exec.group import process_start_time, signal_group

PR_SET_CHILD_SUBREAPER = 36
POLL = 0.02  # how often stopped processes are looked at until they are gone

# pids of the task processes this process spawned and reaps itself (the local executor keeps it)
leaders: set[int] = set()
_subreaper = [False]
_children_files = [True]  # does the kernel list children in /proc? (become_subreaper looks)


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (the engine process does, once);
    False where that is not possible (not Linux, a refused prctl): a full scan then finds them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        done = bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
    _subreaper[0] = done
    _children_files[0] = _has_children_files()
    return done


def is_subreaper() -> bool:
    return _subreaper[0]


class Tag(msgspec.Struct, frozen=True):
    """Which task attempt a process belongs to, from its environment."""

    run_id: str
    task: str
    attempt: int

    @classmethod
    def of_env(cls, env: dict[str, str]) -> Tag | None:
        run_id, task = env.get("PHASEGATE_RUN_ID"), env.get("PHASEGATE_TASK")
        if not run_id or not task:
            return None
        try:
            return cls(run_id, task, int(env.get("PHASEGATE_ATTEMPT") or 0))
        except ValueError:
            return None


class Stray(msgspec.Struct, frozen=True):
    """A live process a task left behind."""

    pid: int
    tag: Tag
    name: str
    started: float  # its start time: a pid reused meanwhile is not signalled

    @property
    def alive(self) -> bool:
        now = process_start_time(self.pid)
        return now > 0 and abs(now - self.started) < 1.0


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _tag_of(pid: int) -> Tag | None:
    data = _read(f"/proc/{pid}/environ")
    if b"PHASEGATE_RUN_ID=" not in data:
        return None
    env = dict(
        item.decode("utf-8", "replace").partition("=")[::2]
        for item in data.split(b"\0")
        if item.startswith(b"PHASEGATE_")
    )
    return Tag.of_env(env)


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (zombies included)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    return [int(c) for t in tids for c in _read(f"/proc/{pid}/task/{t}/children").split()]


def _has_children_files() -> bool:
    """Does this kernel list a thread's children in /proc (CONFIG_PROC_CHILDREN; not every kernel
    or sandbox does)? PHASEGATE_PROC_SCAN=1 says no, to try the scan that replaces it."""
    if os.environ.get("PHASEGATE_PROC_SCAN") == "1":
        return False
    me = os.getpid()
    return os.path.exists(f"/proc/{me}/task/{me}/children")


def _children_table() -> Callable[[int], list[int]]:
    """A reader of processes' children: the kernel's own lists where it has them, else one scan
    of every process's parent (/proc/PID/stat) made now."""
    if _children_files[0]:
        return _children
    table: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _read(f"/proc/{name}/stat")
            try:
                ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (ValueError, IndexError):
                continue  # (gone meanwhile)
            table.setdefault(ppid, []).append(int(name))
    return lambda pid: table.get(pid, [])


def _stat(pid: int) -> tuple[bytes, int]:
    """(state letter, session id) of a process; (b"", 0) when it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    try:  # (after the command: state, ppid, pgrp, session, tty_nr, ...)
        fields = stat[stat.rindex(b")") + 2 :].split()
        return fields[0], int(fields[3])
    except (ValueError, IndexError):
        return b"", 0


def _orphans(children: Callable[[int], list[int]] | None = None) -> list[int]:
    """Live children of this process it did not spawn itself: orphans of tasks, given to it as
    their subreaper (a task's processes never share this process's session). Those that have
    exited are reaped on the way. Orphans go to the subreaper's first thread: only its children
    are read (one small file; a scan of /proc where the kernel keeps no such file)."""
    me = os.getpid()
    mine = os.getsid(0)
    found = []
    if _children_files[0]:
        mine_first = _first_thread_children(me)
    else:
        mine_first = (children or _children_table())(me)
    for pid in mine_first:
        if pid in leaders:
            continue
        state, sid = _stat(pid)
        if not state or sid == mine:
            continue
        if state == b"Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        else:
            found.append(pid)
    return found


_CHUNK = 1 << 14
_listing: list[tuple[int, int]] = []  # (pid, fd): this process's own list, kept open


def _first_thread_children(me: int) -> list[int]:
    """The children of this process's first thread, read again through one open file (a
    pread of it costs a tenth of an open, read and close: it is read at every task's end)."""
    if not _listing or _listing[0][0] != me:  # (first use, or a forked child of ours)
        try:
            fd = os.open(f"/proc/{me}/task/{me}/children", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return []
        _listing[:] = [(me, fd)]
    fd, data = _listing[0][1], b""
    try:
        while not data or len(data) % _CHUNK == 0:  # (thousands of children: read on)
            more = os.pread(fd, _CHUNK, len(data))
            if not more:
                break
            data += more
    except OSError:
        return []
    return [int(word) for word in data.split()]


def _descendants(roots: list[int], children: Callable[[int], list[int]]) -> list[int]:
    seen, todo = set(roots), list(roots)
    while todo:
        for child in children(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return sorted(seen)


def reap() -> None:
    """Reap the orphans this process inherited that have exited."""
    if _subreaper[0]:  # (else nothing is given to us: every child is someone's to wait for)
        _orphans()


def find(
    run_id: str,
    task: str | None = None,
    attempt: int | None = None,
    *,
    keep: Iterable[str] = (),
    running_too: bool = False,
    everywhere: bool = False,
) -> list[Stray]:
    """Live processes of the run (of one task, of one attempt), but those of the tasks in `keep`.

    Only this process's own tree is looked at, and only when it is its tasks' subreaper: its
    orphans and their descendants (where a task's processes are once it has ended), with
    `running_too` the descendants of the tasks it still runs as well. So an engine never touches
    another engine's processes, even of a run with the same id; and finds none where it is not a
    subreaper. `everywhere`: every process of the machine instead (an operator's command)."""
    keep = set(keep)
    me = os.getpid()
    if everywhere:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    elif _subreaper[0]:
        children = _children_table()
        pids = _descendants(_orphans(children) + (sorted(leaders) if running_too else []), children)
    else:
        return []
    found = []
    for pid in pids:
        tag = _tag_of(pid) if pid != me and pid not in leaders else None
        if tag is None or tag.run_id != run_id or tag.task in keep:
            continue
        if task is not None and tag.task != task:
            continue
        if attempt is not None and tag.attempt != attempt:
            continue
        started = process_start_time(pid)  # (0 for a zombie: it has exited)
        if started:
            name = _read(f"/proc/{pid}/comm").decode("utf-8", "replace").strip()
            found.append(Stray(pid, tag, name, started))
    return found


def signal_all(strays: Iterable[Stray], sig: int) -> bool:
    """Send `sig` to each stray that lives and to its process group; False when none lives."""
    groups, any_alive = set(), False
    mine = os.getpgrp()
    for s in strays:
        if not s.alive:
            continue
        any_alive = True
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(s.pid))
        with contextlib.suppress(OSError):
            os.kill(s.pid, sig)
    for pgid in groups - {mine, 0, 1}:
        signal_group(pgid, sig)
    return any_alive


def still_running(strays: Iterable[Stray]) -> list[Stray]:
    reap()
    return [s for s in strays if s.alive]


def describe(strays: list[Stray]) -> str:
    """`stopped 2 processes left behind (pid 1234 sleep, pid 1240 sh)`."""
    n = len(strays)
    which = ", ".join(f"pid {s.pid} {s.name}" for s in strays[:5])
    more = f", and {n - 5} more" if n > 5 else ""
    return f"stopped {n} process{'es' if n != 1 else ''} left behind ({which}{more})"


def stop(strays: list[Stray], grace: float) -> list[Stray]:
    """TERM the strays and their groups, KILL after `grace` seconds what is left, and wait (at
    most `grace` again) until they are gone. Blocking: for a run that is over, or a command.
    Returns what lives on (a process in uninterruptible sleep)."""
    if not signal_all(strays, signal.SIGTERM):
        return []
    deadline = time.monotonic() + grace
    left = still_running(strays)
    while left and time.monotonic() < deadline:
        time.sleep(POLL)
        left = still_running(left)
    if left:
        signal_all(left, signal.SIGKILL)
    while left and time.monotonic() < deadline + grace:
        time.sleep(POLL)
        left = still_running(left)
    return left


def stop_strays(
    run_id: str,
    task: str | None = None,
    attempt: int | None = None,
    grace: float = 5.0,
    keep: Iterable[str] = (),
    everywhere: bool = False,
) -> list[Stray]:
    """Find the run's (task's, attempt's) processes, in this process's tree (its tasks' included)
    or `everywhere`, and stop them (TERM, `grace`, KILL); those found."""
    strays = find(run_id, task, attempt, keep=keep, running_too=True, everywhere=everywhere)
    stop(strays, grace)
    return strays
