"""Dashboard: the live dashboard in tmux while tasks print 5,000 lines/s, against a headless run.

A generated plan: 2 agents; 4 tasks that together print 5,000 lines/s for 20 s (each a small
Python script printing numbered, timestamped lines at a fixed rate, flushing every 5 ms), beside a
chain of `sleep 1` tasks and a few `true` tasks, so that the task table changes all along.
In the same run, interleaved:
  - headless: `phasegate run PLAN --headless -q --db A` (no dashboard): the baseline;
  - output: `phasegate run PLAN --db B` in tmux at 80x24, `l` pressed at once: the output pane
    follows the first task's lines (the most demanding view);
  - plain: the same, staying on the dashboard (task table, phases, agents, risks).

For each dashboard run it measures the dashboard process's CPU (psutil; the engine is its own
process and is excluded), the lag of its event loop (PHASEGATE_LAG_FILE: a 50 ms timer, how late
each tick ran), and the engine's throughput: lines in the store per second of the run, against
the headless run's. In every run, every line printed must be in the store, in order, once.

Targets (the issue): dashboard under 30% of a core; loop lag p95 under 50 ms; no line lost;
throughput with the dashboard >= 0.9x without.

Options --streams 1 (all lines in the followed pane) and --size 160x40 (the wide layout, with the
selected task's output beside the table) measure harder cases.

Usage: python bench/dashboard.py [--quick] [--repeat N] [--keep] [--strict] [--seconds S]
                                 [--rate LINES_PER_S] [--streams N] [--size COLSxROWS] [--no-plain]
Exits 0 whatever the figures (it prints OK/FAIL against the targets) unless --strict.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import psutil
from _procs import Sampler, Tmux, find_dashboard, find_engine, find_phasegate

TARGET_CPU = 30.0  # % of one core, mean over the run, under
TARGET_LAG_P95 = 0.050  # seconds, under
TARGET_RATIO = 0.9  # lines/s with the dashboard over without, at least

START_TIMEOUT = 30.0

# The printing task: `name rate seconds`. Prints exactly rate*seconds lines "name seq time pad",
# paced on the clock (every 5 ms it writes the lines due by then, and flushes).
EMITTER = """\
import sys, time
name, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
total = round(rate * seconds)
pad = "lorem ipsum dolor sit amet " * 2
write, flush = sys.stdout.write, sys.stdout.flush
start = time.monotonic()
i = 0
while i < total:
    due = min(total, int((time.monotonic() - start) * rate) + 1)
    if due > i:
        now = time.time()
        write("".join(f"{name} {n} {now:.6f} {pad}\\n" for n in range(i + 1, due + 1)))
        flush()
        i = due
    time.sleep(0.005)
"""


@dataclass
class Workload:
    plan: str
    seconds: float
    rate: float
    lines: dict[str, int]  # stream task -> lines it prints
    quiet: list[str]  # tasks that print nothing

    @property
    def total(self) -> int:
        return sum(self.lines.values())


@dataclass
class Pass:
    """One run of the plan: what was measured and what was wrong."""

    kind: str  # headless | output | plain
    lines: int = 0
    duration: float = math.nan  # the run's, from `phasegate show`
    wall: float = math.nan  # the `phasegate run` process (headless only)
    delays: list[float] = field(default_factory=list)  # printed -> received by the engine
    engine_cpu: float = math.nan  # % of a core (sampled)
    dash_cpu: float = math.nan  # % of a core, mean over the run
    dash_cpu_peak: float = math.nan  # % of a core, worst 1-second window
    dash_cpu_halves: tuple[float, float] = (math.nan, math.nan)  # first and second half
    tmux_cpu: float = math.nan
    window: float = math.nan  # seconds the dashboard CPU was measured over
    lag: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # lines missing, repeated or out of order
    problems: list[str] = field(default_factory=list)  # anything else that went wrong

    @property
    def rate(self) -> float:
        return self.lines / self.duration if self.duration > 0 else 0.0


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


# -- the plan ----------------------------------------------------------------------------------


def write_plan(root: str, seconds: float, rate: float, streams: int) -> Workload:
    emitter = os.path.join(root, "emit.py")
    with open(emitter, "w") as f:
        f.write(EMITTER)
    per = rate / streams
    slots = math.ceil(streams / 2) + 1  # the streams, plus one slot for the short tasks
    out = [
        "name: bench-dashboard",
        "agents:",
        f"  a: {{slots: {slots}}}",
        f"  b: {{slots: {slots}}}",
        "phases:",
        "  - id: stream",
        "    tasks:",
    ]
    lines: dict[str, int] = {}
    for i in range(streams):
        name = f"s{i}"
        argv = [sys.executable, "-S", emitter, name, f"{per:g}", f"{seconds:g}"]
        command = " ".join(shlex.quote(a) for a in argv)
        out.append(f"      - {{id: {name}, run: {json.dumps(command)}, agent: {'ab'[i % 2]}}}")
        lines[name] = round(per * seconds)
    quiet = []
    ticks = max(1, int(seconds) - 2)  # a chain of 1 s tasks: a row changes every second
    for i in range(ticks):
        needs = f", needs: [tick{i - 1}]" if i else ""
        out.append(f"      - {{id: tick{i}, run: 'sleep 1', agent: {'ab'[i % 2]}{needs}}}")
        quiet.append(f"tick{i}")
        if i % 3 == 0:
            out.append(
                f"      - {{id: mark{i}, run: 'true', agent: {'ba'[i % 2]}, needs: [tick{i}]}}"
            )
            quiet.append(f"mark{i}")
    plan = os.path.join(root, "plan.yaml")
    with open(plan, "w") as f:
        f.write("\n".join(out) + "\n")
    return Workload(plan, seconds, rate, lines, quiet)


# -- sampling CPU ------------------------------------------------------------------------------


def verify(pg: str, db: str, w: Workload, out: Pass) -> None:
    """The run and its tasks succeeded; every printed line is in the store once, in order."""
    proc = subprocess.run(
        [pg, "show", "last", "--json", "--db", db], capture_output=True, text=True
    )
    if proc.returncode != 0:
        out.problems.append(f"`phasegate show last --json` exited {proc.returncode}")
        return
    data = json.loads(proc.stdout)
    out.duration = float(data.get("duration") or math.nan)
    if data["status"] != "succeeded":
        out.problems.append(f"run status {data['status']!r} ({data.get('reason') or '-'})")
    tasks = {t["id"]: t for t in data["tasks"]}
    expected = set(w.lines) | set(w.quiet)
    if set(tasks) != expected:
        out.problems.append(f"{len(tasks)} tasks shown, {len(expected)} in the plan")
    bad = [t for t in tasks.values() if t["status"] != "succeeded"]
    if bad:
        out.problems.append(f"{len(bad)} tasks did not succeed (e.g. {bad[0]['id']})")
    for name, n in w.lines.items():
        t = tasks.get(name, {})
        if t.get("lines") != n or t.get("dropped_lines"):
            out.lost.append(
                f"{name}: engine counted {t.get('lines')} lines ({t.get('dropped_lines')} "
                f"dropped), the task printed {n}"
            )
    try:
        check_store(db, data["id"], w, out)
    except sqlite3.Error as exc:
        out.lost.append(f"reading the output table: {exc}")


def check_store(db: str, run_id: str, w: Workload, out: Pass) -> None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        counts = dict(
            conn.execute(
                "SELECT task, COUNT(*) FROM output WHERE run_id = ? GROUP BY task", (run_id,)
            ).fetchall()
        )
        out.lines = sum(counts.values())
        for name in w.quiet:
            if counts.get(name):
                out.lost.append(f"{name} printed nothing but has {counts[name]} lines")
        for name, n in w.lines.items():
            got = counts.get(name, 0)
            if got != n:
                out.lost.append(f"{name}: {got} lines in the store, {n} printed (lost {n - got})")
            rows = conn.execute(
                "SELECT line, stream, text, ts FROM output WHERE run_id = ? AND task = ? "
                "ORDER BY id",
                (run_id, name),
            ).fetchall()
            for k, (line, stream, text, ts) in enumerate(rows, 1):
                parts = text.split(" ", 3)
                ok = (
                    stream == "out"
                    and line == k
                    and len(parts) == 4
                    and parts[0] == name
                    and parts[1] == str(k)
                )
                if not ok:
                    out.lost.append(
                        f"{name}: row {k} is line {line} {stream} {text[:40]!r}, expected "
                        f"'{name} {k} ...' on out (lost, repeated or out of order)"
                    )
                    break
                out.delays.append(ts - float(parts[2]))


# -- the runs ----------------------------------------------------------------------------------


def headless(pg: str, w: Workload, work: str) -> Pass:
    out = Pass("headless")
    os.makedirs(work)
    db = os.path.join(work, "phasegate.db")
    argv = [pg, "run", w.plan, "--headless", "-q", "--db", db]
    sampler = Sampler()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler.watch("engine", psutil.Process(proc.pid))
    _, err = proc.communicate()
    out.wall = time.perf_counter() - start
    sampler.stop()
    out.engine_cpu = sampler.whole("engine")
    if proc.returncode != 0:
        msg = err.decode(errors="replace").strip()[-300:]
        out.problems.append(f"phasegate run exited {proc.returncode}: {msg}")
    verify(pg, db, w, out)
    return out


def run_state(db: str) -> tuple[str, float | None] | None:
    """(status, finished_at) of the database's run, read without disturbing the writer."""
    if not os.path.exists(db):
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT status, finished_at FROM runs ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return (row[0], row[1]) if row else None


def dashboard(pg: str, w: Workload, work: str, tmux: Tmux, view: str, size: str) -> Pass:
    """One run with the dashboard in tmux; `view` is "output" (press `l`) or "plain"."""
    out = Pass(view)
    os.makedirs(work)
    db = os.path.join(work, "phasegate.db")
    lag_file = os.path.join(work, "lag.json")
    name = f"bench-{view}-{os.path.basename(work)}"
    env = f"TERM=xterm-256color PHASEGATE_LAG_FILE={shlex.quote(lag_file)}"
    command = f"{shlex.quote(pg)} run {shlex.quote(w.plan)} --db {shlex.quote(db)}"
    script = f"cd {shlex.quote(work)} && env {env} {command}; echo EXITED=$?; sleep 600"
    error = tmux.new_session(name, size, script)
    if error is not None:
        out.problems.append(f"tmux new-session failed: {error}")
        return out
    sampler = Sampler()
    engine: psutil.Process | None = None
    try:
        engine = measure(w, tmux, name, db, view, sampler, out)
    finally:
        sampler.stop()
        tmux("kill-session", "-t", name)
        if engine is not None:
            stop_engine(engine, out)
    try:
        with open(lag_file) as f:
            out.lag = [float(x) for x in json.load(f)["samples"]]
    except (OSError, ValueError, KeyError) as exc:
        out.problems.append(f"no lag samples ({lag_file}: {exc})")
    verify(pg, db, w, out)
    return out


def stop_engine(engine: psutil.Process, out: Pass) -> None:
    """The engine runs in its own session: closing the dashboard early leaves it running."""
    try:
        engine.wait(10)
        return
    except psutil.TimeoutExpired:
        pass
    except psutil.NoSuchProcess:
        return
    out.problems.append(f"the engine (pid {engine.pid}) was still running; stopped it")
    try:
        engine.terminate()  # it stops its tasks and records the run as cancelled
        engine.wait(15)
    except psutil.TimeoutExpired:
        engine.kill()
    except psutil.NoSuchProcess:
        pass


def measure(
    w: Workload, tmux: Tmux, name: str, db: str, view: str, sampler: Sampler, out: Pass
) -> psutil.Process | None:
    """Find the processes, open the view, measure until the run ends, quit the dashboard.
    Returns the engine's process (None if not found)."""
    pane = psutil.Process(
        int(tmux("list-panes", "-t", name, "-F", "#{pane_pid}").stdout.split()[0])
    )
    server = tmux("display-message", "-p", "-t", name, "#{pid}").stdout.strip()
    if server.isdigit():
        sampler.watch("tmux", psutil.Process(int(server)))
    deadline = time.monotonic() + START_TIMEOUT
    dash = engine = None
    while time.monotonic() < deadline and (dash is None or engine is None):
        dash = dash or find_dashboard(pane, w.plan)
        engine = find_engine(dash) if dash is not None else None
        time.sleep(0.05)
    if dash is None or engine is None:
        out.problems.append(f"dashboard or engine process not found; screen:\n{tmux.screen(name)}")
        return engine
    sampler.watch("dashboard", dash)
    sampler.watch("engine", engine)
    # the dashboard's task table is titled "Tasks"; the task screen has no such word (nor do
    # the lines printed), though on a wide terminal the dashboard shows "Output of" too
    if not tmux.wait_for(name, lambda s: "Tasks" in s):
        out.problems.append(f"the dashboard did not show; screen:\n{tmux.screen(name)}")
        return engine
    first = next(iter(w.lines))
    if view == "output":
        tmux("send-keys", "-t", name, "l")
        opened = f"Output of {first}"
        if not tmux.wait_for(name, lambda s: opened in s and "Tasks" not in s, timeout=10):
            out.problems.append(f"`l` did not open {first}'s output; screen:\n{tmux.screen(name)}")
            return engine
    sampler.sample()
    t0 = time.monotonic()
    deadline = t0 + 3 * w.seconds + 60
    state = run_state(db)
    while time.monotonic() < deadline and (state is None or state[1] is None):
        time.sleep(0.2)
        state = run_state(db)
    sampler.sample()
    t1 = time.monotonic()
    if state is None or state[1] is None:
        out.problems.append("the run did not finish in time")
        return engine
    out.window = t1 - t0
    out.dash_cpu = sampler.mean("dashboard", t0, t1)
    out.dash_cpu_peak = sampler.peak("dashboard", t0, t1)
    mid = (t0 + t1) / 2
    out.dash_cpu_halves = (sampler.mean("dashboard", t0, mid), sampler.mean("dashboard", mid, t1))
    out.tmux_cpu = sampler.mean("tmux", t0, t1)
    out.engine_cpu = sampler.whole("engine")
    # quit: back from the output pane, then `q` (the run has ended: no prompt); the app writes
    # the lag file as it exits
    time.sleep(0.3)  # the dashboard sees the end within a drain
    if view == "output":
        tmux("send-keys", "-t", name, "Escape")
        if not tmux.wait_for(name, lambda s: "Tasks" in s, timeout=10):
            out.problems.append(f"escape did not close the output pane:\n{tmux.screen(name)}")
    for _ in range(3):
        tmux("send-keys", "-t", name, "q")
        if tmux.wait_for(name, lambda s: "EXITED=" in s, timeout=5):
            break
    else:
        out.problems.append(f"the dashboard did not quit on `q`; screen:\n{tmux.screen(name)}")
        return engine
    code = tmux.screen(name).split("EXITED=")[-1].split()[0]
    if code != "0":
        out.problems.append(f"`phasegate run` exited {code}; screen:\n{tmux.screen(name)}")
    return engine


# -- report ------------------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{1000 * x:.1f} ms"


def verdict(ok: bool) -> str:
    return "OK" if ok else "FAIL"


def best(passes: list[Pass], key: str, low: bool = True) -> Pass:
    def value(p: Pass) -> float:
        v = float(getattr(p, key))
        return v if not math.isnan(v) else (math.inf if low else -math.inf)

    return min(passes, key=value) if low else max(passes, key=value)


def report_run(p: Pass, w: Workload) -> None:
    lost = w.total - p.lines
    wall = f", wall {p.wall:.2f} s" if not math.isnan(p.wall) else ""
    print(
        f"    {p.kind:<8} {p.lines:>7} lines in {p.duration:6.2f} s = {p.rate:6.0f} lines/s"
        f"{wall}; engine {p.engine_cpu:.0f}% of a core; lost {lost}; engine read delay "
        f"p50 {ms(pct(p.delays, 50))} p95 {ms(pct(p.delays, 95))} max {ms(pct(p.delays, 100))}"
    )
    if p.kind != "headless":
        print(
            f"             dashboard {p.dash_cpu:.1f}% of a core over {p.window:.1f} s "
            f"(halves {p.dash_cpu_halves[0]:.1f}% then {p.dash_cpu_halves[1]:.1f}%, worst 1 s "
            f"{p.dash_cpu_peak:.1f}%), tmux server {p.tmux_cpu:.1f}%; loop lag "
            f"p50 {ms(pct(p.lag, 50))} p95 {ms(pct(p.lag, 95))} max {ms(pct(p.lag, 100))} "
            f"({len(p.lag)} ticks)"
        )
    for problem in [*p.lost, *p.problems][:5]:
        print(f"      problem: {problem}")


def report_view(view: str, runs: list[Pass], base: list[Pass], w: Workload) -> bool:
    """The targets for one dashboard view; True when all are met."""
    done = [p for p in runs if not math.isnan(p.dash_cpu)]
    title = {"output": "dashboard, output pane following s0 (`l`)", "plain": "dashboard view"}
    print(f"\n{title[view]} (best of {len(runs)}):")
    if not done or not base:
        print("  FAIL: not measured")
        return False
    cpu = best(done, "dash_cpu").dash_cpu
    lag_run = min(done, key=lambda p: pct(p.lag, 95) if p.lag else math.inf)
    p95 = pct(lag_run.lag, 95)
    rate, base_rate = best(runs, "rate", low=False).rate, best(base, "rate", low=False).rate
    ratio = rate / base_rate if base_rate else 0.0
    every = [*runs, *base]
    whole = [p for p in every if p.lines == w.total and not p.lost]
    sound = [p for p in every if not p.problems]
    checks = [
        (cpu < TARGET_CPU, f"dashboard CPU  {cpu:5.1f}% of one core (target < {TARGET_CPU:g}%)"),
        (
            p95 < TARGET_LAG_P95,
            f"loop lag p95   {ms(p95)} (p50 {ms(pct(lag_run.lag, 50))}, max "
            f"{ms(pct(lag_run.lag, 100))}; target < {ms(TARGET_LAG_P95)})",
        ),
        (
            ratio >= TARGET_RATIO,
            f"throughput     {rate:.0f} lines/s with, {base_rate:.0f} without = {ratio:.3f}x "
            f"(target >= {TARGET_RATIO}x)",
        ),
        (
            len(whole) == len(every),
            f"no line lost   {len(whole)}/{len(every)} runs (these and the headless ones) have "
            f"all {w.total} lines in the store, each once, in order",
        ),
        (
            len(sound) == len(every),
            f"correctness    {len(sound)}/{len(every)} runs succeeded with every task, started "
            "and quit the dashboard as expected and wrote the lag samples",
        ),
    ]
    for ok, text in checks:
        print(f"  {text}  {verdict(ok)}")
    return all(ok for ok, _ in checks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 s runs instead of 20 s")
    ap.add_argument("--seconds", type=float, help="how long the tasks print (default 20, quick 5)")
    ap.add_argument("--rate", type=float, default=5000, help="lines/s, all tasks (default 5000)")
    ap.add_argument("--streams", type=int, default=4, help="printing tasks (default 4)")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain dashboard pass")
    ap.add_argument("--size", default="80x24", help="tmux window, COLSxROWS (default 80x24)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the plan and databases")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target or check fails")
    args = ap.parse_args()
    if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*", args.size):
        ap.error(f"--size {args.size!r}: expected COLSxROWS, e.g. 80x24")

    if shutil.which("tmux") is None:
        print("bench: tmux is not on PATH; the dashboard runs in it. FAIL (not measured)")
        return 1 if args.strict else 0
    pg = find_phasegate()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    views = ["output"] if args.no_plain else ["output", "plain"]
    root = tempfile.mkdtemp(prefix="phasegate-bench-")
    w = write_plan(root, seconds, args.rate, args.streams)
    print(
        f"dashboard: phasegate ({pg}); {os.cpu_count()} CPUs; {args.streams} tasks printing "
        f"{args.rate:g} lines/s in all for {seconds:g} s ({w.total} lines), plus {len(w.quiet)} "
        f"short tasks; tmux {args.size}; workdir {root}"
    )
    tmux = Tmux()
    base: list[Pass] = []
    seen: dict[str, list[Pass]] = {v: [] for v in views}
    try:
        for i in range(args.repeat):
            print(f"  round {i + 1}/{args.repeat}")
            p = headless(pg, w, os.path.join(root, f"headless{i}"))
            base.append(p)
            report_run(p, w)
            for view in views:
                p = dashboard(pg, w, os.path.join(root, f"{view}{i}"), tmux, view, args.size)
                seen[view].append(p)
                report_run(p, w)
    finally:
        tmux.kill_server()
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    ok = True
    for view in views:
        ok = report_view(view, seen[view], base, w) and ok
    print(f"\ndashboard: {verdict(ok)}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
