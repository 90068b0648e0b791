"""End-to-end: the dashboard in a real terminal (tmux at 80x24), read with capture-pane."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
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


@pytest.mark.slow
# (the demo plan's workdir, plans/.demo-work, is the checkout's: one demo at a time)
@pytest.mark.xdist_group("demo-workdir")
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
    t.keys("C-s")
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


@pytest.mark.slow
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
    screen = t.wait_for(lambda s: "waiting for gate review since" in s, "the header")
    assert "gate review waiting for approval" in screen and "ETA 0" not in screen
    t.keys("a")  # asks to confirm, with an optional reason
    t.wait_for(lambda s: "ctrl+s confirms" in s, "the confirmation")
    t.keys("ok", "C-s")
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
    assert '"decision": "approve"' in audit.stdout and '"ok"' in audit.stdout


@pytest.mark.slow
def test_two_dashboards_one_gate_first_decision_wins_and_sighup_leaves_the_run_going(
    term: Callable[..., Term], tmp_path: Path
) -> None:
    (tmp_path / "gated.yaml").write_text(
        "name: shared\n"
        "agents: {a: {}}\n"
        "phases:\n"
        "  - {id: first, tasks: [{id: one, run: 'echo one'}]}\n"
        "  - {id: second, tasks: [{id: two, run: \"sh -c 'sleep 3; touch two.done'\"}]}\n"
        "gates: [{id: review, after: first, criteria: [{run: 'true'}]}]\n"
    )
    env = _env(tmp_path, NO_COLOR="1")
    first = term(f"{PHASEGATE} run gated.yaml", env)
    first.wait_for(lambda s: "Gate review waits for a decision" in s, "the prompt in the first")
    second = term(f"{PHASEGATE} attach last", env)
    second.wait_for(lambda s: "Gate review waits for a decision" in s, "the prompt in the second")
    second.keys("a")  # the second decides; the first's prompt closes with the outcome
    second.wait_for(lambda s: "ctrl+s confirms" in s, "the confirmation in the second")
    second.keys("C-s")
    first.wait_for(
        lambda s: "waits for a decision" not in s and "gate review passed" in s,
        "the first dashboard to learn the decision",
    )
    first.wait_for(lambda s: "running" in s and "two" in s, "phase two running in the first")
    # hang up the first dashboard's terminal (as a dropped SSH connection does)
    subprocess.run(["tmux", "kill-session", "-t", first.name], check=True)
    screen = second.wait_for(
        lambda s: "two" in s and s.count("succeeded") >= 3, "the run to finish without the first"
    )
    assert "passed" in screen and (tmp_path / "two.done").exists()
    shown = _show(env)
    assert shown["status"] == "succeeded"
    second.keys("q")
    assert "EXITED=0" in second.wait_for(lambda s: "EXITED=" in s, "the second to exit")


SSHD = "/usr/sbin/sshd"


@pytest.fixture
def ssh_localhost(tmp_path: Path) -> Iterator[list[str]]:
    """An sshd of this test's own on 127.0.0.1 (key login for the current user); the argv
    prefix that opens a terminal session over it."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        pytest.skip("openssh-server is not installed (.ci/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("starting sshd on localhost needs root")
    keys = tmp_path / "ssh"
    keys.mkdir()
    for name in ("host", "user"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (keys / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile {keys / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin yes\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    log = keys / "sshd.log"
    with open(log, "w") as err:
        sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(keys / "sshd_config")], stderr=err)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if sshd.poll() is not None:
            pytest.skip(f"sshd does not start here: {log.read_text().strip()}")
        time.sleep(0.05)
    user = pwd.getpwuid(os.geteuid()).pw_name
    yield [
        "ssh", "-tt", "-i", str(keys / "user"), "-p", str(port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1",
    ]  # fmt: skip
    sshd.terminate()
    sshd.wait(timeout=10)


@pytest.mark.slow
def test_over_ssh_a_dropped_connection_leaves_the_run_going_and_attach_finds_it(
    term: Callable[..., Term], tmp_path: Path, ssh_localhost: list[str]
) -> None:
    (tmp_path / "remote.yaml").write_text(
        "name: remote\n"
        "agents: {a: {}}\n"
        "phases:\n"
        "  - id: only\n"
        "    tasks:\n"
        "      - {id: start, run: 'echo start'}\n"
        "      - {id: long, run: \"sh -c 'sleep 4; touch long.done'\", needs: [start]}\n"
    )
    db = tmp_path / "data" / "phasegate.db"
    remote = (
        f"cd {tmp_path} && PATH={os.path.dirname(PHASEGATE)}:$PATH PHASEGATE_DB={db} "
        "TERM=xterm-256color NO_COLOR=1"
    )
    ssh = " ".join(ssh_localhost)
    first = term(f"{ssh} '{remote} phasegate run remote.yaml'", {"PATH": os.environ["PATH"]})
    first.wait_for(lambda s: "long" in s and "running" in s, "the dashboard over ssh")
    client = subprocess.run(
        ["tmux", "list-panes", "-t", first.name, "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    # drop the connection: kill the ssh client on this side, as a network loss would
    for child in psutil.Process(int(client.stdout.split()[0])).children(recursive=True):
        if child.name() == "ssh":
            child.kill()
    env = {"PHASEGATE_DB": str(db)}
    assert _show(env)["status"] == "running"
    second = term(f"{ssh} '{remote} phasegate attach last'", {"PATH": os.environ["PATH"]})
    second.wait_for(lambda s: "long" in s and "succeeded" in s and "✓2" in s, "the finished run")
    assert (tmp_path / "long.done").exists() and _show(env)["status"] == "succeeded"
    second.keys("q")
    second.wait_for(lambda s: "EXITED=" in s, "the second session to end")
