"""Fixtures for tests that drive the real coding-agent CLIs against fake model APIs on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_anthropic import FakeAnthropic

INSTALL = Path(__file__).resolve().parents[2] / "agents" / "install.sh"

# under the per-test timeout (the session fixture runs inside the first test that asks for it):
# a cached install answers in milliseconds, a fresh one took about 20 s from the registry
INSTALL_SECONDS = 100


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned `claude` binary, installed once by agents/install.sh into the user's cache.

    Skips with install.sh's reason when it cannot install (no npm, no registry, no binary for
    this platform); a cached install is reused without running npm.
    """
    try:
        done = subprocess.run(
            ["sh", str(INSTALL)],
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            env=dict(os.environ),
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"agents/install.sh took over {INSTALL_SECONDS}s; run it once by hand")
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if done.returncode != 0:
        pytest.skip(f"agents/install.sh failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    binary = Path(last) / "claude"
    if not (last and binary.is_file() and os.access(binary, os.X_OK)):
        pytest.skip(f"agents/install.sh gave no claude binary: {last or done.stderr.strip()}")
    return binary


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A scripted fake Anthropic API, started on a free port: ANTHROPIC_BASE_URL is its `url`."""
    with FakeAnthropic() as fake:
        yield fake
