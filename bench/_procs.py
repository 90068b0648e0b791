"""Process helpers for bench/dashboard.py: CPU sampling of a process tree, a private tmux server,
and finding the dashboard and engine processes in it."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

SAMPLE_EVERY = 0.25  # seconds between CPU samples
START_TIMEOUT = 30.0


def find_phasegate() -> str:
    """The `phasegate` of the interpreter running this script (the venv's), else PATH's."""
    here = os.path.join(os.path.dirname(sys.executable), "phasegate")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("phasegate")
    if found is None:
        sys.exit("bench: no `phasegate` next to this python or on PATH; install the package first")
    return found


class Sampler:
    """CPU time (user + system, threads included, children not) of some processes, sampled in a
    thread; a process that has gone keeps its last reading."""

    def __init__(self) -> None:
        self.procs: dict[str, psutil.Process] = {}
        self.series: dict[str, list[tuple[float, float]]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def watch(self, label: str, proc: psutil.Process) -> None:
        with self._lock:
            self.procs[label] = proc
            self.series.setdefault(label, [])
        self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        with self._lock:
            for label, proc in self.procs.items():
                try:
                    t = proc.cpu_times()
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue
                self.series[label].append((now, t.user + t.system))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, label: str, when: float) -> tuple[float, float] | None:
        """The last sample of `label` taken at or before `when`."""
        best = None
        for t, cpu in self.series.get(label, []):
            if t <= when:
                best = (t, cpu)
        return best

    def mean(self, label: str, t0: float, t1: float) -> float:
        """% of one core between the samples nearest t0 and t1."""
        a, b = self.at(label, t0), self.at(label, t1)
        if a is None or b is None or b[0] - a[0] <= 0:
            return math.nan
        return 100 * (b[1] - a[1]) / (b[0] - a[0])

    def whole(self, label: str) -> float:
        s = self.series.get(label, [])
        if len(s) < 2 or s[-1][0] <= s[0][0]:
            return math.nan
        return 100 * (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0])

    def peak(self, label: str, t0: float, t1: float, span: float = 1.0) -> float:
        """% of one core over the worst window of at least `span` seconds within [t0, t1]."""
        s = [(t, c) for t, c in self.series.get(label, []) if t0 <= t <= t1]
        worst, j = math.nan, 0
        for i in range(len(s)):
            while j < len(s) and s[j][0] - s[i][0] < span:
                j += 1
            if j == len(s):
                break
            v = 100 * (s[j][1] - s[i][1]) / (s[j][0] - s[i][0])
            worst = v if math.isnan(worst) else max(worst, v)
        return worst


# -- checking a run ----------------------------------------------------------------------------


def first_event(db: str, kind: str, match: Callable[[dict[str, Any]], bool]) -> float | None:
    """When the run in `db` first recorded an event of `kind` that `match`es (None: not yet, or
    no readable database); read-only, while the run may still be writing."""
    if not os.path.exists(db):
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            for ts, data in conn.execute(
                "SELECT ts, data FROM events WHERE type = ? ORDER BY id", (kind,)
            ):
                if match(json.loads(data)):
                    return float(ts)
    except sqlite3.Error:
        return None
    return None


class Tmux:
    """A private tmux server (its own socket), so that nothing else's sessions are touched."""

    def __init__(self) -> None:
        self.socket = f"phasegate-bench-{os.getpid()}"
        self.path = ""

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)

    def screen(self, name: str) -> str:
        return self("capture-pane", "-p", "-t", name).stdout

    def wait_for(
        self, name: str, check: Callable[[str], bool], timeout: float = START_TIMEOUT
    ) -> bool:
        """Read the screen until `check` holds; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.screen(name)):
                return True
            time.sleep(0.1)
        return False

    def new_session(self, name: str, size: str, script: str) -> str | None:
        """Start a detached session running `script`; an error message, or None."""
        cols, rows = size.split("x")
        made = self("new-session", "-d", "-s", name, "-x", cols, "-y", rows, script)
        if made.returncode != 0:
            return made.stderr.strip()
        path = self("display-message", "-p", "-t", name, "#{socket_path}").stdout.strip()
        if os.path.basename(path) == self.socket:
            self.path = path
        return None

    def kill_server(self) -> None:
        self("kill-server")
        if self.path:  # the server leaves its socket file behind
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def find_dashboard(pane: psutil.Process, plan: str) -> psutil.Process | None:
    """The `phasegate run PLAN` process under the pane (not the engine it starts)."""
    try:
        procs = [pane, *pane.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    for p in procs:
        try:
            cmd = p.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "run" in cmd and plan in cmd and "--headless" not in cmd:
            return p
    return None


def find_engine(dashboard: psutil.Process) -> psutil.Process | None:
    try:
        for p in dashboard.children():
            cmd = p.cmdline()
            if "-m" in cmd and cmd[cmd.index("-m") + 1 :][:1] == ["phasegate.engine"]:
                return p
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return None
