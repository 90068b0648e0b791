"""Agent stream: one coding agent streaming 2,000 events/s, against plain output at the same pace.

A fake Claude Code CLI (bench/_fake_claude.py, copied into the temporary directory behind a
shebang of this interpreter) is the `binary` of a `kind: claude` agent. It speaks stream-json on
stdio as the engine expects: answers the `initialize` request, reads the prompt, prints
`system/init`, then 20,000 `assistant` messages of one text block each (10 s at 2,000 a second,
each line its own write, paced on the clock), then a `result` with usage and cost, and exits when
the engine closes its stdin. The baseline, in the same run: the same script in `--plain` mode as a
`kind: command` task, printing the lines the engine keeps as the agent's transcript (the same
text, the same number of lines) at the same pace as plain output. What the agent costs beyond the
plain task is what speaking the protocol costs: bigger lines to read, one JSON parse each, the
transcript made from it, the handshake and the usage events.

In the same run, interleaved:
  - `phasegate run PLAN --headless -q` of each plan: the engine runs in that process; its CPU
    (psutil) while the events stream, and in all (wait4, less the fake CLI's own);
  - `phasegate run PLAN` of each plan in tmux at 80x24 with PHASEGATE_LAG_FILE (as
    bench/dashboard.py does): the dashboard's loop lag, on the output pane following the agent's
    transcript (`l`) and on the dashboard view (the roster shows the agent's newest line).

Targets: the engine keeps up (the fake holds >= 95% of its rate, every event stored) at under
one core; agent over plain engine CPU under 3x; dashboard loop lag p99 under 100 ms; no line lost.

Usage: python bench/agent_stream.py [--quick] [--repeat N] [--keep] [--strict] [--seconds S]
                                    [--rate EVENTS_PER_S] [--size COLSxROWS] [--views V,...]
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
from pathlib import Path

import _procs
import dashboard as dash
import psutil
from _procs import Sampler, Tmux, find_phasegate

TARGET_RATE = 0.95  # achieved events/s over the target rate, at least
TARGET_CPU = 100.0  # engine, % of one core while the agent streams, under
TARGET_RATIO = 3.0  # agent engine CPU over plain, under
TARGET_LAG_P99 = 0.100  # seconds, dashboard loop lag, under

TASK = "stream"
FAKE = Path(__file__).resolve().parent / "_fake_claude.py"
VIEWS = {"output": "output pane following the agent (`l`)", "dashboard": "dashboard view"}


@dataclass
class Setup:
    root: str
    fake: str  # the executable copy of _fake_claude.py
    rate: float
    seconds: float

    @property
    def events(self) -> int:
        return round(self.rate * self.seconds)

    @property
    def lines(self) -> int:  # the transcript: the session line, one per event, the result line
        return self.events + 2


@dataclass
class Pass:
    """One run of one plan: what was measured and what was wrong."""

    side: str  # agent | plain
    how: str  # headless | output | dashboard
    wall: float = math.nan  # the `phasegate run` process (headless)
    cpu: float = math.nan  # engine, % of one core while the events streamed
    cpu_all: float = math.nan  # engine, CPU seconds of the whole process (headless)
    fake_rate: float = math.nan  # events/s the fake CLI achieved
    behind: float = math.nan  # the most a line was behind the fake's schedule
    fake_cpu: float = math.nan  # the fake's own CPU seconds
    stored_rate: float = math.nan  # events/s by the stored rows' timestamps
    lines: int = 0  # rows in the output table
    delays: list[float] = field(default_factory=list)  # written -> stored by the engine
    dash_cpu: float = math.nan  # dashboard process, % of one core while streaming
    lag: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def per_event(self) -> float:
        """Engine CPU microseconds per event while streaming."""
        return 1e4 * self.cpu / self.fake_rate if self.fake_rate > 0 else math.nan


pct = dash.pct


# -- the plans ---------------------------------------------------------------------------------


def setup(root: str, rate: float, seconds: float) -> Setup:
    """The fake CLI, executable, run by this interpreter (the venv's)."""
    fake = os.path.join(root, "fake-claude")
    with open(fake, "w") as f:
        f.write(f"#!{sys.executable} -S\n" + FAKE.read_text())
    os.chmod(fake, 0o755)
    return Setup(root, fake, rate, seconds)


def write_plan(s: Setup, side: str, work: str) -> tuple[str, str]:
    """The plan of one pass in its own directory; returns (plan, the fake's stats file)."""
    os.makedirs(work)
    stats = os.path.join(work, "fake.json")
    flags = ["--rate", f"{s.rate:g}", "--seconds", f"{s.seconds:g}", "--stats", stats]
    out = ["name: bench-agent-stream", "output_cap: 1GiB", "agents:"]
    if side == "agent":
        out += [
            "  claude:",
            "    kind: claude",
            f"    binary: {json.dumps(s.fake)}",
            f"    args: {json.dumps(flags)}",
        ]
        task = f"{{id: {TASK}, agent: claude, prompt: 'stream events'}}"
    else:
        out.append("  local: {slots: 1}")
        command = shlex.join([sys.executable, "-S", s.fake, "--plain", *flags])
        task = f"{{id: {TASK}, agent: local, run: {json.dumps(command)}}}"
    out += ["phases:", "  - id: stream", "    tasks:", f"      - {task}"]
    plan = os.path.join(work, "plan.yaml")
    with open(plan, "w") as f:
        f.write("\n".join(out) + "\n")
    return plan, stats


# -- checking a run ----------------------------------------------------------------------------


def read_fake(stats: str, out: Pass) -> dict[str, float] | None:
    try:
        with open(stats) as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        out.problems.append(f"the fake CLI wrote no stats ({exc})")
        return None
    span = data["end"] - data["start"]
    # event k is due (k-1)/rate after the start: n events span n-1 intervals
    out.fake_rate = (data["events"] - 1) / span if span > 0 else math.nan
    out.behind, out.fake_cpu = data["behind"], data["cpu"]
    return {k: float(v) for k, v in data.items()}


def verify(pg: str, db: str, s: Setup, out: Pass) -> None:
    """The run succeeded; the transcript (or the plain lines) is in the store whole, in order."""
    proc = subprocess.run(
        [pg, "show", "last", "--json", "--db", db], capture_output=True, text=True
    )
    if proc.returncode != 0:
        out.problems.append(f"`phasegate show last --json` exited {proc.returncode}")
        return
    data = json.loads(proc.stdout)
    if data["status"] != "succeeded":
        out.problems.append(f"run status {data['status']!r} ({data.get('reason') or '-'})")
    tasks = {t["id"]: t for t in data["tasks"]}
    t = tasks.get(TASK, {})
    if t.get("status") != "succeeded":
        out.problems.append(f"task {TASK}: {t.get('status')} ({t.get('reason') or '-'})")
    if t.get("lines") != s.lines or t.get("dropped_lines"):
        out.lost.append(
            f"engine counted {t.get('lines')} lines ({t.get('dropped_lines')} dropped), "
            f"expected {s.lines}"
        )
    if out.side == "agent":
        usage = t.get("usage") or {}
        if usage.get("input_tokens") != 2468 or abs(usage.get("cost_usd", 0) - 0.0123) > 1e-9:
            out.problems.append(f"the agent's usage is not the result's: {usage}")
    try:
        check_store(db, data["id"], s, out)
    except sqlite3.Error as exc:
        out.lost.append(f"reading the output table: {exc}")


def check_store(db: str, run_id: str, s: Setup, out: Pass) -> None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT line, stream, text, ts FROM output WHERE run_id = ? AND task = ? ORDER BY id",
            (run_id, TASK),
        ).fetchall()
    out.lines = len(rows)
    if len(rows) != s.lines:
        out.lost.append(f"{len(rows)} lines in the store, expected {s.lines}")
    if not rows or not rows[0][2].startswith("· session "):
        out.lost.append(f"the first line is not the session's: {rows[0][2][:60] if rows else ''}")
    if not rows or not rows[-1][2].startswith("· success: "):
        out.lost.append(f"the last line is not the result's: {rows[-1][2][:60] if rows else ''}")
    first = last = math.nan
    for k, (line, stream, text, ts) in enumerate(rows[1 : s.events + 1], 1):
        parts = text.split(" ", 5)
        if not (
            stream == "out"
            and line == k + 1
            and parts[:3] == ["", "", "event"]
            and parts[3] == str(k)
        ):
            out.lost.append(
                f"row {k + 1} is line {line} {stream} {text[:40]!r}, expected '  event {k} ...' "
                "(lost, repeated or out of order)"
            )
            break
        out.delays.append(ts - float(parts[4]))
        first = ts if k == 1 else first
        last = ts
    if last > first:
        out.stored_rate = (s.events - 1) / (last - first)


# -- the runs ----------------------------------------------------------------------------------


def headless(pg: str, s: Setup, side: str, work: str) -> Pass:
    out = Pass(side, "headless")
    plan, stats = write_plan(s, side, work)
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
        sampler.watch("engine", psutil.Process(proc.pid))
        # (wait4: the CPU of the process and of the children it reaped: the fake CLI)
        _, status, usage = os.wait4(proc.pid, 0)
    out.wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    if proc.returncode != 0:
        msg = Path(err_path).read_text(errors="replace").strip()[-300:]
        out.problems.append(f"phasegate run exited {proc.returncode}: {msg}")
    fake = read_fake(stats, out)
    if fake is not None:
        out.cpu = sampler.mean("engine", fake["start"], fake["end"])
        out.cpu_all = usage.ru_utime + usage.ru_stime - fake["cpu"]
    verify(pg, db, s, out)
    return out


def dashboard(pg: str, s: Setup, side: str, view: str, work: str, tmux: Tmux, size: str) -> Pass:
    """`phasegate run PLAN` in tmux; `view` is "output" (press `l`) or "dashboard"."""
    out = Pass(side, view)
    plan, stats = write_plan(s, side, work)
    db = os.path.join(work, "phasegate.db")
    lag_file = os.path.join(work, "lag.json")
    name = f"bench-{side}-{view}-{os.path.basename(work)}"
    env = f"TERM=xterm-256color PHASEGATE_LAG_FILE={shlex.quote(lag_file)}"
    command = f"{shlex.quote(pg)} run {shlex.quote(plan)} --db {shlex.quote(db)}"
    script = f"cd {shlex.quote(work)} && env {env} {command}; echo EXITED=$?; sleep 600"
    error = tmux.new_session(name, size, script)
    if error is not None:
        out.problems.append(f"tmux new-session failed: {error}")
        return out
    # bench/dashboard.py's driver: find the processes, open the view, wait for the run's end, quit
    w = dash.Workload(plan, s.seconds, s.rate, {TASK: s.lines}, [])
    seen = dash.Pass(view)
    sampler = Sampler()
    engine: psutil.Process | None = None
    try:
        engine = dash.measure(
            w, tmux, name, db, "output" if view == "output" else "plain", sampler, seen
        )
    finally:
        sampler.stop()
        tmux("kill-session", "-t", name)
        if engine is not None:
            dash.stop_engine(engine, seen)
    out.problems += seen.problems
    try:
        with open(lag_file) as f:
            out.lag = [float(x) for x in json.load(f)["samples"]]
    except (OSError, ValueError, KeyError) as exc:
        out.problems.append(f"no lag samples ({lag_file}: {exc})")
    fake = read_fake(stats, out)
    if fake is not None:
        out.cpu = sampler.mean("engine", fake["start"], fake["end"])
        out.dash_cpu = sampler.mean("dashboard", fake["start"], fake["end"])
    verify(pg, db, s, out)
    return out


# -- report ------------------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{1000 * x:.1f} ms"


def lag_text(lag: list[float]) -> str:
    return (
        f"p50 {ms(pct(lag, 50))} p95 {ms(pct(lag, 95))} p99 {ms(pct(lag, 99))} "
        f"max {ms(pct(lag, 100))} ({len(lag)} ticks)"
    )


def report_pass(p: Pass, s: Setup) -> None:
    head = f"    {p.side:<5} {p.how:<9}"
    print(
        f"{head} {p.lines} lines stored; fake wrote {p.fake_rate:6.0f} events/s (the most "
        f"behind its schedule {ms(p.behind)}), stored at {p.stored_rate:6.0f}/s; engine "
        f"{p.cpu:5.1f}% of a core streaming ({p.per_event:.0f} us/event); read delay p50 "
        f"{ms(pct(p.delays, 50))} p99 {ms(pct(p.delays, 99))} max {ms(pct(p.delays, 100))}"
    )
    if p.how == "headless":
        print(
            f"{' ' * len(head)} whole process: wall {p.wall:.2f} s, engine CPU {p.cpu_all:.2f} s "
            f"(the fake CLI's own {p.fake_cpu:.2f} s not counted)"
        )
    else:
        print(
            f"{' ' * len(head)} dashboard {p.dash_cpu:.1f}% of a core streaming; loop lag "
            f"{lag_text(p.lag)}"
        )
    for problem in [*p.lost, *p.problems][:5]:
        print(f"      problem: {problem}")


def least(passes: list[Pass], key: str) -> Pass | None:
    done = [p for p in passes if not math.isnan(float(getattr(p, key)))]
    return min(done, key=lambda p: float(getattr(p, key))) if done else None


def report(runs: list[Pass], s: Setup, views: list[str]) -> bool:
    def of(side: str, how: str) -> list[Pass]:
        return [p for p in runs if p.side == side and p.how == how]

    print(f"\nresults (best of {len(of('agent', 'headless'))} each):")
    checks: list[tuple[bool, str]] = []
    agent, plain = least(of("agent", "headless"), "cpu"), least(of("plain", "headless"), "cpu")
    if agent is None or plain is None:
        print("  FAIL: the engine's CPU was not measured")
        return False
    rates = [p.fake_rate for p in of("agent", "headless")]
    rate = max(rates) if rates else math.nan
    held = rate >= TARGET_RATE * s.rate
    checks.append(
        (
            held,
            f"event rate     {rate:.0f} events/s of {s.rate:g} asked, stored at "
            f"{agent.stored_rate:.0f}/s (plain: {plain.fake_rate:.0f}/s); engine read delay "
            f"p99 {ms(pct(agent.delays, 99))} (target >= {100 * TARGET_RATE:g}% of the rate)",
        )
    )
    checks.append(
        (
            agent.cpu < TARGET_CPU,
            f"engine CPU     agent {agent.cpu:.1f}% of one core ({agent.per_event:.0f} us/event), "
            f"plain {plain.cpu:.1f}% ({plain.per_event:.0f} us/event), while streaming "
            f"(target agent < {TARGET_CPU:g}%)",
        )
    )
    ratio = agent.cpu / plain.cpu if plain.cpu > 0 else math.inf
    checks.append(
        (
            ratio < TARGET_RATIO,
            f"protocol cost  agent/plain {ratio:.2f}x engine CPU; "
            f"{agent.per_event - plain.per_event:.0f} us more per event; whole process "
            f"{agent.cpu_all:.2f} s against {plain.cpu_all:.2f} s (target < {TARGET_RATIO:g}x)",
        )
    )
    for view in views:
        agent_lag = [p for p in of("agent", view) if p.lag]
        plain_lag = [p for p in of("plain", view) if p.lag]
        if not agent_lag:
            checks.append((False, f"dashboard lag  {VIEWS[view]}: not measured"))
            continue
        best = min(agent_lag, key=lambda p: pct(p.lag, 99))
        base = min(plain_lag, key=lambda p: pct(p.lag, 99)) if plain_lag else None
        beside = f"; plain: p99 {ms(pct(base.lag, 99))}" if base is not None else ""
        checks.append(
            (
                pct(best.lag, 99) < TARGET_LAG_P99,
                f"dashboard lag  {VIEWS[view]}: {lag_text(best.lag)}, dashboard "
                f"{best.dash_cpu:.0f}% of a core{beside} (target p99 < {ms(TARGET_LAG_P99)})",
            )
        )
    whole = [p for p in runs if p.lines == s.lines and not p.lost]
    checks.append(
        (
            len(whole) == len(runs),
            f"no line lost   {len(whole)}/{len(runs)} runs have all {s.lines} lines in the store, "
            "each once, in order",
        )
    )
    sound = [p for p in runs if not p.problems]
    checks.append(
        (
            len(sound) == len(runs),
            f"correctness    {len(sound)}/{len(runs)} runs succeeded (the agent's usage and cost "
            "recorded), dashboards opened and quit as expected",
        )
    )
    for ok, text in checks:
        print(f"  {text}  {'OK' if ok else 'FAIL'}")
    return all(ok for ok, _ in checks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s streams instead of 10 s")
    ap.add_argument("--seconds", type=float, help="how long the agent streams (default 10)")
    ap.add_argument("--rate", type=float, default=2000, help="events/s (default 2000)")
    ap.add_argument("--size", default="80x24", help="tmux window, COLSxROWS (default 80x24)")
    ap.add_argument(
        "--views",
        default="output,dashboard",
        help="dashboard views measured: output, dashboard, both (default) or none",
    )
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every pass (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the plans and databases")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target or check fails")
    args = ap.parse_args()
    if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*", args.size):
        ap.error(f"--size {args.size!r}: expected COLSxROWS, e.g. 80x24")
    views = [v for v in args.views.split(",") if v and v != "none"]
    if any(v not in VIEWS for v in views):
        ap.error(f"--views {args.views!r}: expected output, dashboard or none")
    if views and shutil.which("tmux") is None:
        print("bench: tmux is not on PATH; the dashboard is measured in it (--views none skips)")
        print("agent_stream: FAIL (not measured)")
        return 1 if args.strict else 0

    _procs.SAMPLE_EVERY = 0.1  # the streaming window is 2 s with --quick
    pg = find_phasegate()
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    root = tempfile.mkdtemp(prefix="phasegate-bench-")
    s = setup(root, args.rate, seconds)
    print(
        f"agent_stream: phasegate ({pg}); {os.cpu_count()} CPUs; one claude agent (a fake CLI) "
        f"streaming {args.rate:g} events/s for {seconds:g} s ({s.events} events), against a "
        f"command printing its transcript at the same pace; tmux {args.size}; workdir {root}"
    )
    tmux = Tmux()
    runs: list[Pass] = []
    try:
        for i in range(args.repeat):
            print(f"  round {i + 1}/{args.repeat}")
            for side in ("plain", "agent"):
                runs.append(headless(pg, s, side, os.path.join(root, f"{side}-headless{i}")))
                report_pass(runs[-1], s)
            for view in views:
                for side in ("plain", "agent"):
                    work = os.path.join(root, f"{side}-{view}{i}")
                    runs.append(dashboard(pg, s, side, view, work, tmux, args.size))
                    report_pass(runs[-1], s)
    finally:
        tmux.kill_server()
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    ok = report(runs, s, views)
    print(f"\nagent_stream: {'OK' if ok else 'FAIL'}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
