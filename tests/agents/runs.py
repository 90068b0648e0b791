"""A plan run of a coding agent, driven the way a person does: `phasegate run` detached (or in
a dashboard in tmux at 80x24), then the command line to read it and answer it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"


def until(what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
    """`check()`'s first true value, polled until a deadline (never a fixed delay)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Run:
    """The plan `plan` in `agent.yaml` of `tmp_path`, with its own database; started detached
    unless `detach` is False (then `term()` starts it in a dashboard)."""

    def __init__(self, tmp_path: Path, plan: str, detach: bool = True) -> None:
        self.dir = tmp_path
        self.env = {**os.environ, "PHASEGATE_DB": str(tmp_path / "runs.db"), "NO_COLOR": "1"}
        (tmp_path / "agent.yaml").write_text(plan)
        self.id = ""
        if detach:
            started = self.pg("run", "agent.yaml", "--detach")
            assert started.returncode == 0, started.stderr
            self.id = started.stdout.split()[-1]

    def term(self) -> Term:
        """`phasegate run agent.yaml` in a dashboard in a new tmux session of 80x24."""
        term = Term(self.dir, {"PHASEGATE_DB": self.env["PHASEGATE_DB"], "NO_COLOR": "1"})
        term.start(f"{PHASEGATE} run agent.yaml")
        self.id = until("the run to start", lambda: self.pg("show", "last", "--json").stdout)
        self.id = json.loads(self.id)["id"]
        return term

    def pg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHASEGATE, *args], cwd=self.dir, env=self.env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    def asked(self) -> dict[str, Any] | None:
        """The open permission request, if any."""
        gates = json.loads(self.pg("gates", self.id, "--json").stdout)["gates"]
        asks = [g for g in gates if g.get("kind") == "permission" and g["status"] == "open"]
        return asks[0] if asks else None

    def gate_open(self, gate: str) -> bool:
        gates = json.loads(self.pg("gates", self.id, "--json").stdout)["gates"]
        return any(g["id"] == gate and g["status"] == "open" for g in gates)

    def show(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.pg("show", self.id, "--json").stdout)
        return data

    def ended(self) -> dict[str, Any]:
        return until("the run to end", lambda: (s := self.show())["status"] != "running" and s)

    def task(self, task: str = "w") -> dict[str, Any]:
        found: dict[str, Any] = {t["id"]: t for t in self.show()["tasks"]}[task]
        return found

    def risks(self, *args: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self.pg("risks", self.id, "--json", *args).stdout)[
            "risks"
        ]
        return found

    def kill_engine(self) -> None:
        """kill -9 of the run's engine; returns once the run reads as interrupted."""
        os.kill(self.show()["engine_pid"], signal.SIGKILL)
        until("the engine to be gone", lambda: "interrupted" in self.pg("show", self.id).stdout)

    def resume(self) -> subprocess.Popen[str]:
        """`phasegate resume RUN --headless`, left going (it ends with the run)."""
        return subprocess.Popen(
            [PHASEGATE, "resume", self.id, "--headless"],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def usage_events(self) -> list[dict[str, Any]]:
        """The data of the run's task.usage events, as stored."""
        db = sqlite3.connect(self.dir / "runs.db")
        try:
            rows = db.execute(
                "SELECT data FROM events WHERE run_id = ? AND type = 'task.usage' ORDER BY seq",
                (self.id,),
            ).fetchall()
        finally:
            db.close()
        return [json.loads(row[0]) for row in rows]


class Term:
    """A tmux session of 80x24, read with capture-pane; its pane stays after the command ends,
    showing EXITED=its status."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.name = f"pg-{uuid.uuid4().hex[:8]}"
        self.cwd = cwd
        self.env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
        self.env |= {"TERM": "xterm-256color", **env}

    def start(self, command: str) -> None:
        exports = " ".join(f"{k}='{v}'" for k, v in self.env.items())
        script = f"cd '{self.cwd}' && env {exports} {command}; echo EXITED=$?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", script],
            check=True,
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, check: Callable[[str], bool], what: str, seconds: float = 60) -> str:
        """The screen once `check` holds of it."""
        screen = ""

        def shown() -> bool:
            nonlocal screen
            screen = self.screen()
            return check(screen)

        try:
            until(what, shown, seconds)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}") from None
        return screen

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)

    def __enter__(self) -> Term:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
