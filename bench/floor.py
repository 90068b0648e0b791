"""The floor of phasegate's executor design, for issues 3 and 21: what one Python asyncio loop
costs to spawn and watch N `true` processes two at a time (posix_spawn, stdout and stderr pipes
and a pidfd each, as engine/exec/local.py does), with no store, no events and no scheduler,
against `make -j2` running the same N independent `true` recipes, in the same run.

Two questions about the design are measured beside it (issue 21):

- `--work US`: the loop also spends US microseconds of CPU after each exit, as the engine's own
  bookkeeping does (its events, fold, scheduler and store: about 350 us a task in December 2026);
- the runner: the same loop, with the spawning and reaping done by a second process (forked at
  the start, a plain blocking loop: posix_spawn, a pidfd each in an epoll set, waitpid), which
  the loop sends each task's pipes to (SCM_RIGHTS) and hears each exit from. The loop then
  never waits in posix_spawn (a vfork: the parent waits until the child has exec'd).

    python bench/floor.py [--tasks N] [--repeat N] [--work US]
    python bench/floor.py --once --tasks N [--slots S] [--work US] [--runner]
                                           # the loop alone, once: bench/throughput.py times
                                           # this whole process from cold beside phasegate's
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

SIGDEF = (signal.SIGPIPE, signal.SIGXFSZ)  # (reset in each child, as the engine does)


def _burn(seconds: float) -> None:
    """CPU time spent as the engine's bookkeeping would spend it."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


_ENV = dict(os.environ)  # (a plain dict, as the engine gives: os.environ converts item by item)


def _spawn(true: str, out_w: int, err_w: int) -> int:
    actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    return os.posix_spawn(true, [true], _ENV, file_actions=actions, setsid=True, setsigdef=SIGDEF)


def _pipes() -> tuple[int, int, int, int]:
    out_r, out_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    err_r, err_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    os.set_blocking(out_w, True)
    os.set_blocking(err_w, True)
    return out_r, out_w, err_r, err_w


def _runner(sock: socket.socket, true: str) -> None:
    """The runner process: spawn what is asked (with the pipes sent), report each exit."""
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    children: dict[int, tuple[int, bytes]] = {}  # pidfd -> (pid, tag)
    while True:
        for fd, _ in ep.poll():
            if fd == sock.fileno():
                tag, fds, _, _ = socket.recv_fds(sock, 64, 2)
                if not tag:
                    os._exit(0)
                pid = _spawn(true, fds[0], fds[1])
                for x in fds:
                    os.close(x)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, tag)
                ep.register(pidfd, select.EPOLLIN)
            else:
                pid, tag = children.pop(fd)
                ep.unregister(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                sock.send(tag + b" %d" % os.waitstatus_to_exitcode(status))


async def _floor(
    n: int, true: str, at_once: int = 2, work: float = 0.0, runner: bool = False
) -> float:
    """Seconds to run `n` `true`, `at_once` at a time, spending `work` seconds of CPU after each
    exit; through a runner process when `runner`."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    left = [n, n]  # to start, to finish
    waiting: dict[bytes, list[int]] = {}  # task -> what it still waits for (2 pipes, its exit)
    sock: socket.socket | None = None

    def one_less(tag: bytes) -> None:
        waiting[tag][0] -= 1
        if waiting[tag][0]:
            return
        del waiting[tag]
        left[1] -= 1
        if not left[1]:
            done.set_result(None)
            return
        start()
        _burn(work)

    def read(fd: int, tag: bytes) -> None:
        try:
            if os.read(fd, 65536):
                return
        except BlockingIOError:
            return
        loop.remove_reader(fd)
        os.close(fd)
        one_less(tag)

    def exited(pidfd: int, pid: int, tag: bytes) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        os.waitpid(pid, 0)
        one_less(tag)

    def heard() -> None:
        assert sock is not None
        said = sock.recv(64)
        if not said:  # the runner is gone
            loop.remove_reader(sock.fileno())
            done.set_exception(RuntimeError("the runner process ended before its tasks"))
            return
        one_less(said.split()[0])

    def start() -> None:
        if not left[0]:
            return
        left[0] -= 1
        tag = b"%d" % left[0]
        waiting[tag] = [3]
        out_r, out_w, err_r, err_w = _pipes()
        for fd in (out_r, err_r):
            loop.add_reader(fd, read, fd, tag)
        if sock is not None:
            socket.send_fds(sock, [tag], [out_w, err_w])
        else:
            pid = _spawn(true, out_w, err_w)
            pidfd = os.pidfd_open(pid)
            loop.add_reader(pidfd, exited, pidfd, pid, tag)
        os.close(out_w)
        os.close(err_w)

    begin = time.perf_counter()
    if not n:
        return 0.0
    runner_pid = 0
    if runner:
        sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        runner_pid = os.fork()
        if runner_pid == 0:  # (before any thread: the runner is a copy of this small process)
            try:
                sock.close()
                _runner(theirs, true)
            finally:
                os._exit(1)  # (never back into the parent's loop)
        theirs.close()
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), heard)
    try:
        for _ in range(at_once):
            start()
        await done
        return time.perf_counter() - begin
    finally:
        if sock is not None:
            if not done.done() or done.exception() is None:
                loop.remove_reader(sock.fileno())
            sock.close()  # (the runner exits at the end of its socket)
            os.waitpid(runner_pid, 0)


def _make(n: int, make: str) -> float:
    work = tempfile.mkdtemp(prefix="phasegate-floor-")
    try:
        names = " ".join(f"t{i}" for i in range(n))
        with open(os.path.join(work, "Makefile"), "w") as f:
            f.write(f".PHONY: all {names}\nall: {names}\n")
            f.write("".join(f"t{i}:\n\t@true\n" for i in range(n)))
        start = time.perf_counter()
        subprocess.run([make, "-s", "-j2"], cwd=work, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slots", type=int, default=2, help="processes at a time (default 2)")
    ap.add_argument(
        "--work",
        type=float,
        default=None,
        help="CPU microseconds spent after each exit (default: 0 with --once, else 350)",
    )
    ap.add_argument("--runner", action="store_true", help="--once: spawn through a runner process")
    ap.add_argument(
        "--once", action="store_true", help="run the loop once and exit: timed from cold by another"
    )
    args = ap.parse_args()
    if args.runner and not args.once:
        ap.error("--runner goes with --once (without it, both ways are measured)")
    make, true = shutil.which("make"), shutil.which("true")
    if args.once and true is not None:
        work = (args.work or 0.0) / 1e6  # (throughput.py's floor: none)
        asyncio.run(_floor(args.tasks, true, args.slots, work, args.runner))
        return 0
    if make is None or true is None:
        print("floor: needs GNU make and true on PATH (not measured)")
        return 0
    us = 350.0 if args.work is None else args.work
    work = us / 1e6
    sides: list[tuple[str, Callable[[], float]]] = [
        ("make -j2", lambda: _make(args.tasks, make)),
        ("asyncio + posix_spawn", lambda: asyncio.run(_floor(args.tasks, true, args.slots))),
        ("  through a runner", lambda: asyncio.run(_floor(args.tasks, true, args.slots, 0, True))),
        (
            f"  + {us:g} us of work",
            lambda: asyncio.run(_floor(args.tasks, true, args.slots, work)),
        ),
        (
            f"  + {us:g} us, runner",
            lambda: asyncio.run(_floor(args.tasks, true, args.slots, work, True)),
        ),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in sides}
    for _ in range(args.repeat):  # (interleaved: the machine's load falls on every side alike)
        for name, run in sides:
            times[name].append(run())
    make_s = min(times["make -j2"])
    print(f"floor: {args.tasks} `true`, {args.slots} at a time, best of {args.repeat}, interleaved")
    for name, _ in sides:
        best = min(times[name])
        print(f"  {name:28s} {best:7.3f} s   {make_s / best:5.2f}x make")
    print(
        "  (no store, no events, no scheduler: the work is CPU spent after each exit; the runner\n"
        "   is a second process that spawns and reaps; issue 21's target is 0.6x make)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
