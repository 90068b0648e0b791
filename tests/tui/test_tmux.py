"""End-to-end: the dashboard in a real terminal (tmux at 80x24), read with capture-pane."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import PHASEGATE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Term:
    def __init__(self, name: str) -> None:
        self.name = name

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """Read the screen until `check` holds (a condition, not a fixed delay)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")

    def alive(self) -> bool:
        return (
            subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True).returncode
            == 0
        )


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Callable[..., Term]]:
    names: list[str] = []

    def start(command: str, env: dict[str, str]) -> Term:
        name = f"pg-{uuid.uuid4().hex[:8]}"
        names.append(name)
        exports = " ".join(f"{k}='{v}'" for k, v in env.items())
        # the pane stays open after the command ends, showing how it ended
        script = f"cd '{tmp_path}' && env {exports} {command}; echo EXITED=$?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24", script], check=True
        )
        return Term(name)

    yield start
    for name in names:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "TERM": "xterm-256color",
        "PHASEGATE_DB": str(tmp_path / "data" / "phasegate.db"),
    }
    env.update(extra)
    return env


def _show(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [PHASEGATE, "show", "last", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout) if done.returncode == 0 else {}


def test_demo_dashboard_keys_and_stopping_the_run(
    term: Callable[..., Term], tmp_path: Path
) -> None:
    env = _env(tmp_path)
    t = term(f"{PHASEGATE} run {ROOT / 'plans' / 'demo.yaml'}", env)
    regions = ("Phases", "Agents", "Tasks", "Risks", "builder", "tester", "q Quit")
    # a frame is drawn in pieces: wait for one with every region (the test fails if none comes)
    screen = t.wait_for(
        lambda s: "fetch" in s and "running" in s and all(r in s for r in regions),
        "the demo running, every region of the dashboard on screen",
    )
    assert all(len(line) <= 80 for line in screen.splitlines())
    t.keys("?")
    t.wait_for(lambda s: "command palette" in s and "esc" in s, "the help screen")
    t.keys("Escape")
    t.wait_for(lambda s: "Tasks" in s and "command palette" not in s, "the dashboard again")
    t.keys("l")
    t.wait_for(lambda s: "Output of fetch" in s and "fetched module" in s, "fetch's output")
    t.keys("Escape")
    t.wait_for(lambda s: "Risks" in s, "the dashboard again")
    t.keys("q")
    t.wait_for(lambda s: "still going" in s, "the quit prompt")
    t.keys("s")
    t.wait_for(lambda s: "EXITED=" in s, "phasegate to exit")
    deadline = time.monotonic() + 30
    while _show(env).get("status") not in ("cancelled",) and time.monotonic() < deadline:
        time.sleep(0.1)
    shown = _show(env)
    assert shown["status"] == "cancelled"
    assert shown["engine_alive"] is False


def test_pipeline_to_the_end_without_colour_on_plain_xterm(
    term: Callable[..., Term], tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: plain\n"
        "agents: {maker: {slots: 2}, inspector: {}}\n"
        "phases:\n"
        "  - id: make\n"
        "    tasks:\n"
        "      - {id: left, run: 'echo left', agent: maker}\n"
        "      - {id: right, run: 'echo right', agent: maker}\n"
        "      - {id: inspect, run: 'echo inspect', agent: inspector, needs: [left, right]}\n"
    )
    env = _env(tmp_path, TERM="xterm", NO_COLOR="1")
    t = term(f"{PHASEGATE} run plan.yaml", env)
    t.wait_for(
        lambda s: (
            s.count("succeeded") >= 4 and all(w in s for w in ("maker", "inspector", "Risks"))
        ),
        "every task succeeded, with the agent roster and the risk feed on screen",
    )
    t.keys("q")
    screen = t.wait_for(lambda s: "EXITED=" in s, "phasegate to exit")
    assert "EXITED=0" in screen


def test_gate_prompt_approved_from_the_keyboard(term: Callable[..., Term], tmp_path: Path) -> None:
    (tmp_path / "gated.yaml").write_text(
        "name: gated\n"
        "agents: {a: {}}\n"
        "phases:\n"
        "  - {id: first, tasks: [{id: one, run: 'echo one'}]}\n"
        "  - {id: second, tasks: [{id: two, run: 'echo two'}]}\n"
        "gates: [{id: review, after: first, criteria: [{run: 'true'}]}]\n"
    )
    env = _env(tmp_path, NO_COLOR="1")
    t = term(f"{PHASEGATE} run gated.yaml", env)
    t.wait_for(lambda s: "Gate review waits for a decision" in s and "a approve" in s, "the prompt")
    t.keys("a")
    screen = t.wait_for(lambda s: s.count("succeeded") >= 3, "the run to finish")
    assert "passed" in screen
    t.keys("q")
    assert "EXITED=0" in t.wait_for(lambda s: "EXITED=" in s, "phasegate to exit")
    audit = subprocess.run(
        [PHASEGATE, "audit", "last", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert '"decision": "approve"' in audit.stdout
