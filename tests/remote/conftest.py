"""A real sshd on 127.0.0.1 at a free port, with its own host keys, authorized_keys and config in
a temporary directory (never any other address), and a client key and known_hosts file for it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    port: int
    host: str  # user@127.0.0.1:PORT
    identity: Path
    known_hosts: Path
    proc: subprocess.Popen[bytes]
    root: Path

    def agent_yaml(self, known_hosts: Path | None = None, **more: str) -> str:
        """The `host:` and `ssh:` of an agent that runs its tasks there (a flow mapping)."""
        opts = {"identity": str(self.identity), "known_hosts": str(known_hosts or self.known_hosts)}
        opts.update(more)
        inner = ", ".join(f"{k}: '{v}'" for k, v in opts.items())
        return f"host: '{self.host}', ssh: {{{inner}}}"

    def sessions(self) -> list[psutil.Process]:
        """The sshd processes serving connections (children of the listening one)."""
        return psutil.Process(self.proc.pid).children()

    def stop(self) -> None:
        """No sshd listens any more, and the connections it served are cut."""
        sessions = self.sessions()
        self.proc.kill()
        self.proc.wait(10)
        for p in sessions:
            p.kill()

    def start(self) -> None:
        """The sshd again, on the same port with the same keys (after `stop`)."""
        self.proc = _listen(self.port, self.root)


def stop_left(run_dir: Path) -> None:
    """Kill what a test's remote tasks left running, and the `tail`s of a cut session (their
    PHASEGATE_RUN_DIR is in the test's directory)."""
    mark = f"PHASEGATE_RUN_DIR={run_dir}".encode()
    for p in psutil.process_iter():
        try:
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                if any(v.startswith(mark) for v in f.read().split(b"\0")):
                    p.kill()
        except (OSError, psutil.Error):
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True, timeout=30
    )


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        pytest.skip(f"no {SSHD} or ssh-keygen (apt-get install openssh-server)")
    root = tmp_path / "sshd"
    root.mkdir()
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    port = _free_port()
    host_pub = (root / "host_key.pub").read_text().split()
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\nLogLevel ERROR\nMaxSessions 100\nMaxStartups 100\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # (its privilege separation directory)
    proc = _listen(port, root)
    user = psutil.Process().username()
    found = Sshd(port, f"{user}@127.0.0.1:{port}", root / "client_key", known, proc, root)
    try:
        yield found
    finally:
        found.proc.terminate()
        found.proc.wait(10)
        stop_left(tmp_path)  # (what a cut session left: no other test sees it)


def _listen(port: int, root: Path) -> subprocess.Popen[bytes]:
    """sshd with the config in `root`, once it listens (its output appended to sshd.log)."""
    with open(root / "sshd.log", "ab") as log:
        config = str(root / "sshd_config")
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stderr=log, stdout=log)
    deadline = time.monotonic() + 15
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.skip(f"sshd did not start: {(root / 'sshd.log').read_text()[-500:]}")
        time.sleep(0.05)
