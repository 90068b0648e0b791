"""A real sshd on 127.0.0.1 at a free port, with its own host keys, authorized_keys and config in
a temporary directory (never any other address), and a client key and known_hosts file for it
(started by sshd.py, which bench/ssh_stream.py uses too)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .sshd import Sshd, Unavailable, start

__all__ = ["Sshd", "stop_left"]


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


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    try:
        found = start(tmp_path / "sshd")
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield found
    finally:
        found.close()
        stop_left(tmp_path)  # (what a cut session left: no other test sees it)


@pytest.fixture
def run_id() -> str:
    """The id of the test's run, its alone: a remote attempt's directory is
    ~/.phasegate/runs/RUN/TASK-N on the host (here, one home for every test), and an attempt
    starts by emptying it, so two tests' `run1` at once (on two pytest-xdist workers) would take
    each other's output and exit status."""
    return f"run-{uuid.uuid4().hex[:8]}"
