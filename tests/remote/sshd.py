"""A real sshd on 127.0.0.1 at a free port, with its own host keys, authorized_keys and config in
a directory of the caller's (never any other address), and a client key and known_hosts file for
it: the test fixture's (conftest.py) and bench/ssh_stream.py's. Needs openssh-server's sshd and
ssh-keygen; `start` raises Unavailable, saying why, without them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SSHD = "/usr/sbin/sshd"


class Unavailable(Exception):
    """No sshd can be started here (not installed, or it did not start)."""


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

    def close(self) -> None:
        """Stop the listening sshd (the sessions it serves end with their connections)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` listens on 127.0.0.1:`port`."""
    try:
        sockets = psutil.Process(pid).net_connections("tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets)


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True, timeout=30
    )


def start(root: Path) -> Sshd:
    """An sshd listening on 127.0.0.1 with its keys and config in `root` (made here)."""
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        raise Unavailable(f"no {SSHD} or ssh-keygen (apt-get install openssh-server)")
    root.mkdir()
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    host_pub = (root / "host_key.pub").read_text().split()
    known = root / "known_hosts"
    os.makedirs("/run/sshd", exist_ok=True)  # (its privilege separation directory)
    # a free port can be taken by another process (another test's sshd) before sshd binds it:
    # then sshd exits, and another port is tried
    for tries_left in reversed(range(3)):
        port = _free_port()
        known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        (root / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\nLogLevel ERROR\nMaxSessions 100\nMaxStartups 100\n"
        )
        try:
            proc = _listen(port, root)
            break
        except Unavailable:
            if not tries_left:
                raise
    user = psutil.Process().username()
    return Sshd(port, f"{user}@127.0.0.1:{port}", root / "client_key", known, proc, root)


def _listen(port: int, root: Path) -> subprocess.Popen[bytes]:
    """sshd with the config in `root`, once it listens (its output appended to sshd.log)."""
    with open(root / "sshd.log", "ab") as log:
        config = str(root / "sshd_config")
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stderr=log, stdout=log)
    deadline = time.monotonic() + 15
    while True:
        if _listens(proc.pid, port):  # (this sshd: another process may answer on a free port)
            return proc
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise Unavailable(f"sshd did not start: {(root / 'sshd.log').read_text()[-500:]}")
        time.sleep(0.05)
