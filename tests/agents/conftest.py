"""Fixtures for tests that drive the real coding-agent CLIs against fake model APIs on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_anthropic import FakeAnthropic
from .fake_gemini import FakeGemini
from .fake_openai import FakeOpenAI

INSTALL = Path(__file__).resolve().parents[2] / "agents" / "install.sh"

# under the per-test timeout (the session fixture runs inside the first test that asks for it):
# a cached install answers in milliseconds, a fresh one took about 20 s from the registry
INSTALL_SECONDS = 100


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned `claude` native binary (its platform package: postinstall is skipped)."""
    return _installed("claude")


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    """The pinned `codex` CLI (node_modules/.bin/codex of the same install: a node launcher of
    its native binary)."""
    return _installed("codex")


@pytest.fixture(scope="session")
def gemini_bin() -> Path:
    """The pinned `gemini` CLI (node_modules/.bin/gemini of the same install)."""
    return _installed("gemini")


_install: list[str] = []  # install.sh's last line, once it succeeded


def _installed(cli: str) -> Path:
    """A pinned CLI, installed once by agents/install.sh into the user's cache.

    Skips with install.sh's reason when it cannot install (no npm, no registry, no binary for
    this platform); a cached install is reused without running npm.
    """
    if not _install:
        _install.append(_install_dir())
    last = _install[0]
    # (the others are in node_modules/.bin, two levels above claude's platform package)
    binary = Path(last) / cli if cli == "claude" else Path(last).parents[1] / ".bin" / cli
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.skip(f"agents/install.sh gave no {cli} binary: {binary}")
    return binary


def _install_dir() -> str:
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
    if not last:
        pytest.skip(f"agents/install.sh said nothing of where it installed: {done.stderr.strip()}")
    return last


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A scripted fake Anthropic API, started on a free port: ANTHROPIC_BASE_URL is its `url`."""
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A scripted fake OpenAI Responses API, started on a free port: a Codex provider's
    base_url is its `url`."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A scripted fake Gemini API, started on a free port: GOOGLE_GEMINI_BASE_URL is its `url`."""
    with FakeGemini() as fake:
        yield fake
