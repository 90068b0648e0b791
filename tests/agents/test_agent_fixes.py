"""End to end with the real CLIs against the fake model APIs, the regressions of a tester's
report: a declared secret a Claude agent's tool printed folded, or its model wrote over two
lines, or past the transcript's 300 characters, was stored and shown in clear; a Claude attempt
the API refused failed as `exited with code 1`, its transcript saying `success`; a `turns`
budget on a Gemini agent never took effect."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from . import runs
from .fake_anthropic import FakeAnthropic, Text, ToolUse
from .fake_gemini import FakeGemini
from .fake_gemini import Text as GeminiText
from .test_gemini_agent import Run as GeminiRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # (the real CLI, seconds a test)

KEY = "zq9XvB7mLk2PpR4tYw8N"


def pieces(text: str, size: int = 6) -> list[str]:
    return [KEY[i : i + size] for i in range(len(KEY) - size + 1) if KEY[i : i + size] in text]


def claude_plan(tmp_path: Path, claude: Path, url: str, extra_env: str = "") -> str:
    for folder in ("home", "tmp"):
        (tmp_path / folder).mkdir()
    return f"""
name: agent
secrets: {{DEPLOY_TOKEN: {{env: PG_TEST_DEPLOY_TOKEN}}}}
agents:
  coder:
    kind: claude
    binary: {claude}
    secrets: [DEPLOY_TOKEN]
    env:
      ANTHROPIC_BASE_URL: "{url}"
      ANTHROPIC_API_KEY: sk-test
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"
      HOME: "{tmp_path / "home"}"
      TMPDIR: "{tmp_path / "tmp"}"
{extra_env}    permissions: {{allow: [Bash]}}
phases:
  - id: p
    tasks: [{{id: w, agent: coder, prompt: "show the token"}}]
"""


def test_a_secret_a_claude_agent_prints_folded_split_or_long_is_nowhere_in_clear(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_TEST_DEPLOY_TOKEN", KEY)
    fake = fake_anthropic
    fake.script(
        ToolUse("Bash", {"command": "echo $DEPLOY_TOKEN | fold -w 7"}),
        ToolUse("Bash", {"command": "head -c 290 /dev/zero | tr '\\0' a; echo $DEPLOY_TOKEN"}),
        Text("split: zq9XvB7mLk\n2PpR4tYw8N"),
    )
    run = runs.Run(tmp_path, claude_plan(tmp_path, claude_bin, fake.url))
    assert run.ended()["status"] == "succeeded"
    results = [b for r in fake.conversation for b in r.blocks("tool_result")]
    assert "zq9XvB7\\nmLk2PpR" in json.dumps(results[0])  # (the tool did print it, folded)
    logs = run.pg("logs", run.id, "w").stdout
    assert not pieces(logs), logs
    assert "← «DEPLOY_TOKEN» «DEPLOY_TOKEN» «DEPLOY_TOKEN»" in logs
    assert "  split: «DEPLOY_TOKEN»\n  «DEPLOY_TOKEN»" in logs and "← aaaa" in logs
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("runs.db*"))
    assert not pieces(stored.decode("utf-8", "replace"))


def test_a_claude_attempt_the_api_refuses_fails_with_the_apis_reason(
    tmp_path: Path, claude_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_TEST_DEPLOY_TOKEN", KEY)
    with socket.socket() as closed:  # (a port nothing listens on: the server is down)
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    retries = '      CLAUDE_CODE_MAX_RETRIES: "0"\n'
    run = runs.Run(tmp_path, claude_plan(tmp_path, claude_bin, url, retries))
    assert run.ended()["status"] == "failed"
    reason = run.task()["reason"]
    assert reason.startswith("API Error: Connection refused"), reason
    logs = run.pg("logs", run.id, "w").stdout
    assert "· error: 1 turns" in logs and "· success" not in logs, logs


def test_a_turns_budget_on_a_gemini_agent_stops_its_next_task(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(GeminiText("one"), GeminiText("two"))
    more = """  - id: more
    tasks: [{id: w2, agent: coder, prompt: "again"}]
"""
    budget = "    budget: {turns: 1}\n"
    run = GeminiRun(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}", agent=budget, extra=more)
    shown = run.ended()
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert tasks["w"]["status"] == "succeeded" and tasks["w"]["usage"]["turns"] == 1
    assert tasks["w2"]["status"] == "failed"
    assert "the budget of agent coder is spent" in tasks["w2"]["reason"]
    assert len(fake_gemini.conversation) == 1  # (w2 never reached the model)
