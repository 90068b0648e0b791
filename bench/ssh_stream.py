"""SSH stream: a remote task printing 5,000 lines/s over SSH for 20 s (issue 18), against the same
task run locally by a plain agent in the same run; and the time from a cut connection to the
`host_unreachable` risk.

The host is a real sshd on 127.0.0.1 at a free port with its own keys (tests/remote/sshd.py, the
tests' own; never any other address). The agent points at it as a plan does:
`host: USER@127.0.0.1:PORT`, `ssh: {identity: KEY, known_hosts: FILE}`.

The task is a small Python script printing numbered lines `n TIME ...` paced on the clock (every
5 ms it writes the lines due by then and flushes), TIME being time.time() when it wrote them. Each
stored row's `ts` (the output table) less that TIME is the line's lag from print to store.
In the same run, interleaved, each on a fresh database, `phasegate run PLAN --headless -q`:
  - local: the task on a plain local agent (the baseline);
  - remote: the task on the SSH agent (the remote bootstrap appends its output to files that
    `tail -f` sends over the session).
Printed per side: lines stored against printed (each once, in order), the achieved rate, the lag
p50/p95/max, the engine process's CPU while streaming (psutil) and in all (wait4); then remote p95
over local p95.

The cut: the remote task again (6 s; --quick 4 s); 1.5 s into it, the sshd child serving the
engine's connection (a child of the listening sshd, found by its socket's peer being the engine's)
is killed. Timed: the cut to the `host_unreachable` risk in the store (events, risk.raised), beside
the engine's 1 s tick, and the cut to the task's "made again; following on" line. Then the same
with the host down: the listening sshd stopped too, started again (same port, same keys) once the
risk is recorded or after 5 s. Both runs must still store every line (followed on from where the
stream stopped).

Targets: no line lost; remote p95 lag under 250 ms; the risk within 5 s of the cut.

Usage: python bench/ssh_stream.py [--quick] [--repeat N] [--keep] [--strict] [--seconds S]
                                  [--rate LINES_PER_S]
Exits 0 whatever the figures (it prints OK/FAIL) unless --strict; without sshd it says why and
exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import _procs
import psutil
from _procs import Sampler, find_phasegate

TARGET_P95 = 0.250  # seconds, remote lag from print to store, under
TARGET_RISK = 5.0  # seconds from the cut to host_unreachable in the store, at most
TICK = 1.0  # the engine's tick: risks are found once a tick
CUT_AFTER = 1.5  # seconds into the cut run's stream
DOWN_FOR = 5.0  # the host-down cut: seconds at most before the sshd listens again
TASK = "stream"
REPO = Path(__file__).resolve().parent.parent

# The printing task: `rate seconds stats`. Prints round(rate*seconds) lines "n time pad", paced on
# the clock (every 5 ms the lines due by then, one write, flushed), then its figures as JSON.
PRINTER = """\
import json, os, sys, time
rate, seconds, stats = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
total = round(rate * seconds)
pad = "lorem ipsum dolor sit amet " * 2
write, flush = sys.stdout.write, sys.stdout.flush
start = time.monotonic()
first = last = 0.0
i = 0
while i < total:
    due = min(total, int((time.monotonic() - start) * rate) + 1)
    if due > i:
        now = time.time()
        first = first or now
        write("".join(f"{n} {now:.6f} {pad}\\n" for n in range(i + 1, due + 1)))
        flush()
        last, i = now, due
    time.sleep(0.005)
t = os.times()
with open(stats, "w") as f:
    json.dump({"lines": total, "first": first, "last": last, "cpu": t.user + t.system}, f)
"""


def _load_sshd() -> object:
    """tests/remote/sshd.py, by its path (the tests' sshd; no test package imported)."""
    spec = importlib.util.spec_from_file_location("_pg_sshd", REPO / "tests/remote/sshd.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (its dataclass looks itself up there)
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Pass:
    side: str  # local | remote | cut | down
    run_id: str = ""
    expected: int = 0  # lines printed
    lines: int = 0  # lines stored (the task's numbered ones)
    printed_rate: float = math.nan  # lines/s the task achieved
    stored_rate: float = math.nan  # lines/s by the stored rows' ts
    lag: list[float] = field(default_factory=list)  # row ts - time printed in the line
    cpu: float = math.nan  # engine, % of one core while streaming
    cpu_all: float = math.nan  # engine process, CPU seconds in all (wait4, less the task's)
    wall: float = math.nan
    risk: float | None = None  # seconds from the cut to host_unreachable in the store
    back: float | None = None  # seconds from the cut to the task's "made again" line
    cleared: float | None = None  # seconds from the cut to the risk's clearing
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def ms(x: float) -> str:
    return f"{1000 * x:.1f} ms"


# -- plans and runs ----------------------------------------------------------------------------


def write_plan(work: str, printer: str, agent: str, rate: float, seconds: float) -> tuple[str, str]:
    """The plan of one pass in its own directory: (plan, the printer's stats file)."""
    os.makedirs(work)
    stats = os.path.join(work, "printer.json")
    command = shlex.join([sys.executable, "-S", printer, f"{rate:g}", f"{seconds:g}", stats])
    text = (
        f"name: bench-ssh-stream\noutput_cap: 1GiB\nagents:\n  a: {{{agent}}}\n"
        f"phases:\n  - id: one\n    tasks:\n      - {{id: {TASK}, agent: a, "
        f"run: {json.dumps(command)}}}\n"
    )
    plan = os.path.join(work, "plan.yaml")
    Path(plan).write_text(text)
    return plan, stats


def _risk(db: str) -> float | None:
    return _procs.first_event(db, "risk.raised", lambda d: d.get("rule") == "host_unreachable")


def _cleared(db: str) -> float | None:
    return _procs.first_event(
        db, "risk.cleared", lambda d: str(d.get("key", "")).startswith("host_unreachable")
    )


def _stored_lines(db: str) -> int:
    if not os.path.exists(db):
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM output").fetchone()[0])
    except sqlite3.Error:
        return 0


def _until(check: Callable[[], bool], seconds: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


def _session_of(sshd: object, engine: psutil.Process) -> psutil.Process | None:
    """The sshd child serving the engine's connection: its socket's peer is the engine's."""
    port = sshd.port  # type: ignore[attr-defined]
    mine = {
        c.laddr.port
        for c in engine.net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.raddr.ip == "127.0.0.1"
    }
    for child in sshd.sessions():  # type: ignore[attr-defined]
        with contextlib.suppress(psutil.Error):
            for c in child.net_connections("tcp"):
                if c.laddr.port == port and c.raddr and c.raddr.port in mine:
                    return child
    return None


def run_pass(
    pg: str,
    root: str,
    printer: str,
    side: str,
    agent: str,
    rate: float,
    seconds: float,
    i: int,
    sshd: object | None = None,
) -> Pass:
    out = Pass(side, expected=round(rate * seconds))
    work = os.path.join(root, f"{side}{i}")
    plan, stats = write_plan(work, printer, agent, rate, seconds)
    db = os.path.join(work, "phasegate.db")
    err_path = os.path.join(work, "stderr.txt")
    sampler = Sampler()
    start = time.perf_counter()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [pg, "run", plan, "--headless", "-q", "--db", db],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            engine = psutil.Process(proc.pid)
            sampler.watch("engine", engine)
            if side in ("cut", "down"):
                cut(out, sshd, engine, db, side)
            # (wait4: the process's CPU and its reaped children's: the local task's)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if proc.returncode is None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if sshd is not None and sshd.proc.poll() is not None:  # type: ignore[attr-defined]
                sshd.start()  # type: ignore[attr-defined]
    out.wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    if proc.returncode != 0:
        msg = Path(err_path).read_text(errors="replace").strip()[-300:]
        out.problems.append(f"phasegate run exited {proc.returncode}: {msg}")
    try:
        printed = json.loads(Path(stats).read_text())
    except (OSError, ValueError) as exc:
        out.problems.append(f"the task wrote no figures ({exc})")
        printed = None
    if printed is not None:
        span = printed["last"] - printed["first"]
        out.printed_rate = (printed["lines"] - 1) / span if span > 0 else math.nan
        offset = time.monotonic() - time.time()  # (the sampler's clock)
        t0, t1 = printed["first"] + offset, printed["last"] + offset
        out.cpu = sampler.mean("engine", t0, t1)
        task_cpu = printed["cpu"] if side == "local" else 0.0  # (remote: not the engine's child)
        out.cpu_all = usage.ru_utime + usage.ru_stime - task_cpu
    check(pg, db, out)
    return out


def cut(out: Pass, sshd: object, engine: psutil.Process, db: str, side: str) -> None:
    """Cut the engine's connection CUT_AFTER s into the stream; time the risk and the way back."""
    if not _until(lambda: _stored_lines(db) > 0, 30):
        out.problems.append("no line stored within 30 s: not cut")
        return
    time.sleep(CUT_AFTER)
    session = _session_of(sshd, engine)
    if session is None:
        out.problems.append("the sshd child serving the engine's connection was not found")
        return
    listener = sshd.proc  # type: ignore[attr-defined]
    if side == "down":
        listener.kill()  # no sshd listens any more
        listener.wait(10)
    at = time.time()
    session.send_signal(signal.SIGKILL)
    if side == "down":
        _until(lambda: _risk(db) is not None, DOWN_FOR, 0.01)
        sshd.start()  # type: ignore[attr-defined]
    else:
        _until(lambda: _risk(db) is not None, TARGET_RISK + 2 * TICK, 0.01)
    raised = _risk(db)
    out.risk = None if raised is None else raised - at
    # (the risk is cleared a tick after the connection is back; one never raised is not)
    _until(lambda: _back(db) is not None and (raised is None or _cleared(db) is not None), 30)
    came = _back(db)
    out.back = None if came is None else came - at
    gone = _cleared(db)
    out.cleared = None if gone is None else gone - at


def _back(db: str) -> float | None:
    """The time (the engine's clock) of the task's "made again; following on" line."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT ts FROM output WHERE stream = 'err' AND text LIKE '%made again%' "
                "ORDER BY id LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else float(row[0])


def check(pg: str, db: str, out: Pass) -> None:
    """The run succeeded; every printed line is stored once, in order; the lags."""
    argv = [pg, "show", "last", "--json", "--db", db]
    shown = subprocess.run(argv, capture_output=True, text=True)
    if shown.returncode != 0:
        out.problems.append(f"`phasegate show last --json` exited {shown.returncode}")
        return
    data = json.loads(shown.stdout)
    out.run_id = data["id"]
    if data["status"] != "succeeded":
        out.problems.append(f"run status {data['status']!r} ({data.get('reason') or '-'})")
    t = {t["id"]: t for t in data["tasks"]}.get(TASK, {})
    if t.get("status") != "succeeded" or t.get("attempts") != 1:
        out.problems.append(
            f"task {TASK}: {t.get('status')} after {t.get('attempts')} attempts "
            f"({t.get('reason') or '-'})"
        )
    if t.get("dropped_lines"):
        out.lost.append(f"the engine dropped {t.get('dropped_lines')} lines")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT text, ts FROM output WHERE run_id = ? AND task = ? AND stream = 'out' "
            "ORDER BY id",
            (data["id"], TASK),
        ).fetchall()
    out.lines = len(rows)
    first = last = math.nan
    for k, (text, ts) in enumerate(rows, 1):
        parts = text.split(" ", 2)
        if parts[0] != str(k) or len(parts) < 3:
            out.lost.append(f"row {k} is {text[:30]!r}: lost, repeated or out of order")
            break
        out.lag.append(ts - float(parts[1]))
        first = ts if k == 1 else first
        last = ts
    if out.lines != out.expected:
        out.lost.append(f"{out.lines} lines stored of {out.expected} printed")
    if last > first:
        out.stored_rate = (out.lines - 1) / (last - first)


# -- report ------------------------------------------------------------------------------------


def report_pass(p: Pass) -> None:
    print(
        f"    {p.side:<6} {p.lines}/{p.expected} lines stored; printed at {p.printed_rate:5.0f}/s, "
        f"stored at {p.stored_rate:5.0f}/s; lag p50 {ms(pct(p.lag, 50))} p95 "
        f"{ms(pct(p.lag, 95))} max {ms(pct(p.lag, 100))}; engine {p.cpu:5.1f}% of a core "
        f"streaming, {p.cpu_all:.2f} s CPU in all, wall {p.wall:.1f} s"
    )
    if p.side in ("cut", "down"):
        said = "never" if p.risk is None else f"{p.risk:.2f} s"
        if p.risk is None and p.back is not None:
            said += " (the connection was made again before a tick saw it cut)"
        back = "never" if p.back is None else f"{p.back:.2f} s"
        gone = "never" if p.cleared is None else f"{p.cleared:.2f} s"
        print(f"           cut: risk after {said}; followed on after {back}; cleared after {gone}")
    for problem in [*p.lost, *p.problems][:5]:
        print(f"      problem: {problem}")


def report(runs: list[Pass], rate: float, seconds: float) -> bool:
    def best(side: str) -> Pass | None:
        done = [p for p in runs if p.side == side and p.lag]
        return min(done, key=lambda p: pct(p.lag, 95)) if done else None

    local, remote = best("local"), best("remote")
    print(f"\nresults (best of {len([p for p in runs if p.side == 'local'])} each, by p95 lag):")
    checks: list[tuple[bool, str]] = []
    if local is None or remote is None:
        print("  FAIL: the lag was not measured")
        return False
    for p in (local, remote):
        print(
            f"  {p.side:<6} {p.lines}/{p.expected} lines, {p.printed_rate:.0f} lines/s printed "
            f"({rate:g} asked), {p.stored_rate:.0f}/s stored; lag p50 {ms(pct(p.lag, 50))} "
            f"p95 {ms(pct(p.lag, 95))} max {ms(pct(p.lag, 100))}; engine {p.cpu:.1f}% of a core "
            f"streaming, {p.cpu_all:.2f} s CPU for the run"
        )
    p95, base = pct(remote.lag, 95), pct(local.lag, 95)
    ratio = p95 / base if base > 0 else math.inf
    cpu_ratio = remote.cpu / local.cpu if local.cpu > 0 else math.inf
    checks.append(
        (
            p95 < TARGET_P95,
            f"remote lag     p95 {ms(p95)}, {ratio:.1f}x the local {ms(base)}; engine CPU "
            f"{cpu_ratio:.2f}x the local's (target p95 < {ms(TARGET_P95)})",
        )
    )
    for side, what in (("cut", "session killed"), ("down", "host down")):
        cuts = [p for p in runs if p.side == side]
        if not cuts:
            continue
        said = ", ".join("never" if p.risk is None else f"{p.risk:.2f} s" for p in cuts)
        back = ", ".join("never" if p.back is None else f"{p.back:.2f} s" for p in cuts)
        late = [p for p in cuts if p.risk is None or p.risk > TARGET_RISK]
        checks.append(
            (
                not late,
                f"cut ({what:<14}) host_unreachable in the store after {said}, beside the "
                f"engine's {TICK:g} s tick; the task followed on after {back} "
                f"(target <= {TARGET_RISK:g} s)",
            )
        )
    whole = [p for p in runs if not p.lost and p.lines == p.expected]
    checks.append(
        (
            len(whole) == len(runs),
            f"no line lost   {len(whole)}/{len(runs)} runs stored every printed line, each once, "
            f"in order ({round(rate * seconds)} a stream run), cut ones included",
        )
    )
    sound = [p for p in runs if not p.problems]
    checks.append(
        (
            len(sound) == len(runs),
            f"correctness    {len(sound)}/{len(runs)} runs succeeded, the task in one attempt",
        )
    )
    for ok, text in checks:
        print(f"  {text}  {'OK' if ok else 'FAIL'}")
    return all(ok for ok, _ in checks)


def stop_left(root: str) -> None:
    """Kill what this script's tasks left running (PHASEGATE_RUN_DIR under its directory)."""
    mark = f"PHASEGATE_RUN_DIR={root}".encode()
    for p in psutil.process_iter():
        try:
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                if any(v.startswith(mark) for v in f.read().split(b"\0")):
                    p.kill()
        except (OSError, psutil.Error):
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 s streams instead of 20 s")
    ap.add_argument("--seconds", type=float, help="how long the task prints (default 20)")
    ap.add_argument("--rate", type=float, default=5000, help="lines/s (default 5000)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every run (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the plans and databases")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target or check fails")
    args = ap.parse_args()
    sshd_mod = _load_sshd()
    root = tempfile.mkdtemp(prefix="phasegate-bench-ssh-")
    try:
        sshd = sshd_mod.start(Path(root) / "sshd")  # type: ignore[attr-defined]
    except sshd_mod.Unavailable as exc:  # type: ignore[attr-defined]
        print(f"ssh_stream: not measured: {exc}")
        shutil.rmtree(root, ignore_errors=True)
        return 0
    _procs.SAMPLE_EVERY = 0.1
    pg = find_phasegate()
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    cut_seconds = 4.0 if args.quick else 6.0
    printer = os.path.join(root, "printer.py")
    Path(printer).write_text(PRINTER)
    remote = sshd.agent_yaml(connect_timeout="20s")
    print(
        f"ssh_stream: phasegate ({pg}); {os.cpu_count()} CPUs; one task printing {args.rate:g} "
        f"lines/s for {seconds:g} s, on an SSH agent (sshd on {sshd.host}) and on a local agent; "
        f"workdir {root}"
    )
    runs: list[Pass] = []
    run_ids: list[str] = []
    try:
        for i in range(max(1, args.repeat)):
            print(f"  round {i + 1}/{max(1, args.repeat)}")
            for side, agent in (("local", "slots: 1"), ("remote", remote)):
                runs.append(run_pass(pg, root, printer, side, agent, args.rate, seconds, i))
                report_pass(runs[-1])
            for side in ("cut", "down"):
                runs.append(
                    run_pass(pg, root, printer, side, remote, args.rate, cut_seconds, i, sshd)
                )
                report_pass(runs[-1])
            run_ids += [p.run_id for p in runs]
    finally:
        stop_left(root)
        sshd.close()
        home = Path.home() / ".phasegate" / "runs"  # (the remote side's files, this machine's)
        for run_id in {r for r in run_ids if r}:
            shutil.rmtree(home / run_id, ignore_errors=True)
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    ok = report(runs, args.rate, seconds)
    print(f"\nssh_stream: {'OK' if ok else 'FAIL'}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
