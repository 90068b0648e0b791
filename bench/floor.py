"""The floor of phasegate's executor design, for issue 3: what one Python asyncio loop costs to
spawn and watch N `true` processes two at a time (posix_spawn, stdout and stderr pipes and a
pidfd each, as engine/process.py does), with no store, no events and no scheduler, against
`make -j2` running the same N independent `true` recipes, in the same run.

If this ratio is near the 0.5x target, trimming phasegate's own work cannot reach it; the
spawning and reaping has to leave the engine's loop (an executor process on the other core).

    python bench/floor.py [--tasks N] [--repeat N]
    python bench/floor.py --once --tasks N   # the loop alone, once: bench/throughput.py times
                                             # this whole process from cold beside phasegate's
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time


async def _one(loop: asyncio.AbstractEventLoop, true: str) -> None:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.posix_spawn(
        true,
        [true],
        os.environ,
        file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)],
        setsid=True,
    )
    os.close(out_w)
    os.close(err_w)
    pidfd = os.pidfd_open(pid)
    done: asyncio.Future[None] = loop.create_future()
    left = [3]

    def ready(fd: int) -> None:
        if fd == pidfd:
            os.waitpid(pid, 0)
        elif os.read(fd, 65536):
            return
        loop.remove_reader(fd)
        os.close(fd)
        left[0] -= 1
        if not left[0]:
            done.set_result(None)

    for fd in (out_r, err_r, pidfd):
        loop.add_reader(fd, ready, fd)
    await done


async def _floor(n: int, true: str, at_once: int = 2) -> float:
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(at_once)

    async def task() -> None:
        async with slots:
            await _one(loop, true)

    start = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(n)))
    return time.perf_counter() - start


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
        "--once", action="store_true", help="run the loop once and exit: timed from cold by another"
    )
    args = ap.parse_args()
    make, true = shutil.which("make"), shutil.which("true")
    if args.once and true is not None:
        asyncio.run(_floor(args.tasks, true, args.slots))
        return 0
    if make is None or true is None:
        print("floor: needs GNU make and true on PATH (not measured)")
        return 0
    loop_s = min(asyncio.run(_floor(args.tasks, true)) for _ in range(args.repeat))
    make_s = min(_make(args.tasks, make) for _ in range(args.repeat))
    print(f"floor: {args.tasks} `true`, 2 at a time, best of {args.repeat}")
    print(f"  make -j2                 {make_s:7.3f} s")
    print(f"  asyncio + posix_spawn    {loop_s:7.3f} s  (no store, no events, no scheduler)")
    print(f"  ratio                    {make_s / loop_s:7.2f}x make  (phasegate's target: 0.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
