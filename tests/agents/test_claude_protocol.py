"""The real Claude Code CLI (2.1.328) driven over stdio, its permission prompts answered by us.

Command: ``claude -p --input-format stream-json --output-format stream-json --verbose
--permission-prompt-tool stdio`` (add ``--resume SESSION_ID`` to continue a session), cwd the
task's directory, env ``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``,
``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``, a scratch ``HOME`` (sessions are kept in
``$HOME/.claude/projects/<cwd with / as ->/<session_id>.jsonl``) and ``TMPDIR`` (else it writes
``/tmp/claude-UID`` and ``/tmp/cc-socks``). One JSON object a line each way.

Shapes observed against tests/agents/fake_anthropic.py (``...``: more keys, not needed):

we send, first::

    {"type": "control_request", "request_id": "init-1",
     "request": {"subtype": "initialize", "hooks": null}}

it answers (before any model request)::

    {"type": "control_response", "response": {"subtype": "success", "request_id": "init-1",
     "response": {"commands": [...], "agents": [...], "models": [{"value": "default",
       "resolvedModel": "claude-opus-5-5", ...}], "account": {"apiKeySource": "ANTHROPIC_API_KEY",
       ...}, "pid": 30362, "claude_code_version": "2.1.328", "current_permission_mode": "default",
       "session_state": "idle", ...}}}

we send the prompt (session_id is ignored; "" is fine)::

    {"type": "user", "message": {"role": "user", "content": "make a file"},
     "parent_tool_use_id": null, "session_id": ""}

it emits, once the prompt arrives::

    {"type": "system", "subtype": "init", "session_id": "075ea0ee-...", "cwd": "/tmp/...",
     "model": "claude-opus-5-5", "permissionMode": "default", "tools": ["Task", "Bash", ...],
     "apiKeySource": "ANTHROPIC_API_KEY", "claude_code_version": "2.1.328", "uuid": "...", ...}

one ``assistant`` message per content block of the model's reply (stop_reason is still null
here and usage.output_tokens is the message_start count, 1: read the totals from ``result``)::

    {"type": "assistant", "message": {"id": "msg_...", "role": "assistant",
     "model": "claude-opus-5-5", "content": [{"type": "tool_use", "id": "toolu_...",
     "name": "Bash", "input": {"command": "touch tool.txt", "description": "..."}}],
     "stop_reason": null, "usage": {"input_tokens": 1234, "output_tokens": 1, ...}},
     "parent_tool_use_id": null, "session_id": "075ea0ee-...", "uuid": "...", "timestamp": "..."}

then it asks, and waits for the answer::

    {"type": "control_request", "request_id": "8039561e-...",
     "request": {"subtype": "can_use_tool", "tool_name": "Bash", "display_name": "Bash",
      "input": {"command": "touch tool.txt", "description": "..."}, "description": "...",
      "tool_use_id": "toolu_...", "blocked_path": "/tmp/.../tool.txt",
      "permission_suggestions": [{"type": "addRules", "rules": [{"toolName": "Bash",
        "ruleContent": "touch tool.txt"}], "behavior": "allow", "destination": "localSettings"},
        ...]}}

we allow (updatedInput is required: the input to run, usually the one asked for)::

    {"type": "control_response", "response": {"subtype": "success", "request_id": "8039561e-...",
     "response": {"behavior": "allow", "updatedInput": {"command": "touch tool.txt", ...}}}}

or deny, with the reason the model will read::

    {"type": "control_response", "response": {"subtype": "success", "request_id": "8039561e-...",
     "response": {"behavior": "deny", "message": "not allowed: ..."}}}

it reports the tool's result (allowed, then denied) as a ``user`` message, and the same
tool_result block goes to the model in the next request::

    {"type": "user", "message": {"role": "user", "content": [{"tool_use_id": "toolu_...",
     "type": "tool_result", "content": "(Bash completed with no output)", "is_error": false}]},
     "tool_use_result": {"stdout": "", "stderr": "", "interrupted": false, ...},
     "tool_result_meta": [{"id": "toolu_...", "permission_decision": {"decision": "accept",
       "source": "user_temporary"}}], "session_id": "...", ...}
    {"type": "user", "message": {"role": "user", "content": [{"type": "tool_result",
     "content": "not allowed: ...", "is_error": true, "tool_use_id": "toolu_..."}]},
     "tool_use_result": "Error: not allowed: ...", "tool_result_meta": [{"id": "toolu_...",
       "non_execution_kind": "permission-rule", "permission_decision": {"decision": "reject",
       "source": "user_reject"}}], ...}

and ends the turn with (then waits for the next ``user`` line, or exits 0 when stdin closes)::

    {"type": "result", "subtype": "success", "is_error": false, "result": "done",
     "stop_reason": "end_turn", "terminal_reason": "completed", "num_turns": 2,
     "session_id": "075ea0ee-...", "total_cost_usd": 0.01,
     "usage": {"input_tokens": 2468, "output_tokens": 112, "cache_creation_input_tokens": 0,
       "cache_read_input_tokens": 0, ...},
     "modelUsage": {"claude-opus-5-5": {"inputTokens": 2468, "outputTokens": 112,
       "costUSD": 0.01, ...}},
     "permission_denials": [{"tool_name": "Bash", "tool_use_id": "toolu_...", "tool_input": {...}}],
     "duration_ms": 290, "duration_api_ms": 83, ...}

``usage`` sums the model requests of this turn (this ``user`` message); ``total_cost_usd`` is
the CLI's own price (claude-opus-5-5: $4 in, $20 out, $5 cache write, $0.2 cache read per
million) and is cumulative over the session, a resumed one included.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .fake_anthropic import FakeAnthropic, Request, Text, ToolUse, Usage

pytestmark = pytest.mark.e2e

Json = dict[str, Any]
Decide = Callable[[Json], Json]

#: the CLI answers within a second or two here; a generous deadline for a loaded machine
SECONDS = 60


class Claude:
    """One `claude -p` stream-json process: JSON lines to its stdin, JSON lines from its stdout."""

    def __init__(self, binary: Path, cwd: Path, home: Path, base_url: str, *extra: str) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            # its scratch files and sockets land here, not in /tmp/claude-UID and /tmp/cc-socks
            "TMPDIR": str(home / "tmp"),
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-test",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        self.proc = subprocess.Popen(
            [
                str(binary),
                "-p",
                "--input-format",
                "stream-json",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-prompt-tool",
                "stdio",
                *extra,
            ],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.received: list[Json] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._stderr.extend, args=(self.proc.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: Iterator[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, message: Json) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self, deadline: float) -> Json:
        """The next message it prints, or fail at the deadline or when its output ends."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"claude said nothing more within {SECONDS}s") from None
        if line is None:
            raise AssertionError(f"claude's output ended; stderr: {''.join(self._stderr)[-2000:]}")
        message: Json = json.loads(line)
        self.received.append(message)
        return message

    def initialize(self) -> Json:
        self.send(
            {
                "type": "control_request",
                "request_id": "init-1",
                "request": {"subtype": "initialize", "hooks": None},
            }
        )
        reply = self.receive(time.monotonic() + SECONDS)
        assert reply["type"] == "control_response", reply
        return reply

    def turn(self, prompt: str, decide: Decide | None = None) -> list[Json]:
        """Send a prompt, answer its permission requests with `decide`, return up to `result`."""
        self.send(
            {
                "type": "user",
                "message": {"role": "user", "content": prompt},
                "parent_tool_use_id": None,
                "session_id": "",
            }
        )
        deadline = time.monotonic() + SECONDS
        start = len(self.received)
        while True:
            message = self.receive(deadline)
            if message["type"] == "control_request":
                assert message["request"]["subtype"] == "can_use_tool", message
                assert decide is not None, f"unexpected permission request: {message}"
                answer = decide(message["request"])
                self.send(
                    {
                        "type": "control_response",
                        "response": {
                            "subtype": "success",
                            "request_id": message["request_id"],
                            "response": answer,
                        },
                    }
                )
            if message["type"] == "result":
                return self.received[start:]

    def close(self) -> int:
        """Close stdin (it then exits 0); a process that lingers is stopped with its group."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Stop it if still running (TERM its group, grace, KILL, reap), then close the pipes."""
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        for reader in self._readers:
            reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


@pytest.fixture
def start_claude(
    claude_bin: Path, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> Iterator[Callable[..., Claude]]:
    """Start claude in tmp_path/work with HOME tmp_path/home; every one started is stopped."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (home / "tmp").mkdir(parents=True)
    started: list[Claude] = []

    def start(*extra: str) -> Claude:
        claude = Claude(claude_bin, work, home, fake_anthropic.url, *extra)
        started.append(claude)
        return claude

    yield start
    for claude in started:
        claude.kill()


def kinds(messages: list[Json]) -> list[str]:
    """`type` or `type/subtype` of each message, for comparing sequences."""
    return [m["type"] + (f"/{m['subtype']}" if "subtype" in m else "") for m in messages]


def tool_results(request: Request) -> list[Json]:
    """The tool_result blocks of the last message of a request to the model."""
    content = request.messages[-1]["content"]
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def allow(request: Json) -> Json:
    return {"behavior": "allow", "updatedInput": request["input"]}


BASH = ToolUse("Bash", {"command": "touch tool.txt", "description": "make a file"})


def test_initialize_answers_before_any_model_request(
    start_claude: Callable[..., Claude], fake_anthropic: FakeAnthropic
) -> None:
    claude = start_claude()
    reply = claude.initialize()
    response = reply["response"]
    assert response["subtype"] == "success"
    assert response["request_id"] == "init-1"
    assert response["response"]["claude_code_version"] == "2.1.328"
    assert response["response"]["account"]["apiKeySource"] == "ANTHROPIC_API_KEY"
    assert fake_anthropic.requests == []
    assert claude.close() == 0


def test_an_allowed_tool_runs_and_its_result_reaches_the_model(
    start_claude: Callable[..., Claude], fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.script(BASH, Text("done"))
    fake_anthropic.usage = Usage(input_tokens=1234, output_tokens=56)
    asked: list[Json] = []

    def decide(request: Json) -> Json:
        asked.append(request)
        # the file does not exist until we say yes
        assert not (tmp_path / "work" / "tool.txt").exists()
        return allow(request)

    claude = start_claude()
    claude.initialize()
    messages = claude.turn("please make a file", decide)

    assert kinds(messages) == [
        "system/init",
        "assistant",
        "control_request",
        "user",
        "assistant",
        "result/success",
    ]
    init, tool_use, _, tool_result, text, result = messages
    session = init["session_id"]
    assert init["cwd"] == str(tmp_path / "work")
    assert "Bash" in init["tools"]

    [block] = tool_use["message"]["content"]
    assert block["type"] == "tool_use" and block["name"] == "Bash"
    assert block["input"] == BASH.input

    [request] = asked
    assert request["subtype"] == "can_use_tool"
    assert request["tool_name"] == "Bash"
    assert request["input"] == BASH.input
    assert request["tool_use_id"] == block["id"]

    assert (tmp_path / "work" / "tool.txt").is_file()
    [echo] = tool_result["message"]["content"]
    assert echo["type"] == "tool_result" and echo["tool_use_id"] == block["id"]
    assert echo["is_error"] is False
    assert text["message"]["content"] == [{"type": "text", "text": "done"}]

    # the model was asked twice: the prompt, then the tool's result
    first, second = fake_anthropic.wait_for(2)
    assert len(fake_anthropic.conversation) == 2
    assert "please make a file" in json.dumps(first.messages)
    [sent] = tool_results(second)
    assert sent["tool_use_id"] == block["id"]
    assert sent["is_error"] is False
    assert sent["content"] == echo["content"]

    assert result["is_error"] is False
    assert result["result"] == "done"
    assert result["num_turns"] == 2
    assert result["permission_denials"] == []
    assert {m["session_id"] for m in messages if "session_id" in m} == {session}
    assert result["session_id"] == session
    assert result["usage"]["input_tokens"] == 2 * 1234
    assert result["usage"]["output_tokens"] == 2 * 56
    # the CLI prices the usage itself; the pinned version's default model: $4 / $20 per Mtok
    assert result["total_cost_usd"] == pytest.approx((2 * 1234 * 4 + 2 * 56 * 20) / 1e6)
    assert claude.close() == 0


def test_a_denied_tool_does_not_run_and_the_model_reads_why(
    start_claude: Callable[..., Claude], fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.script(BASH, Text("understood"))
    reason = "not allowed: the gate 'review' is closed"

    claude = start_claude()
    claude.initialize()
    messages = claude.turn("please make a file", lambda _: {"behavior": "deny", "message": reason})

    assert kinds(messages) == [
        "system/init",
        "assistant",
        "control_request",
        "user",
        "assistant",
        "result/success",
    ]
    tool_use_id = messages[1]["message"]["content"][0]["id"]
    assert not (tmp_path / "work" / "tool.txt").exists()

    [echo] = messages[3]["message"]["content"]
    assert echo == {
        "type": "tool_result",
        "content": reason,
        "is_error": True,
        "tool_use_id": tool_use_id,
    }
    [sent] = tool_results(fake_anthropic.wait_for(2)[1])
    assert sent["content"] == reason
    assert sent["is_error"] is True

    result = messages[-1]
    assert result["result"] == "understood"
    assert result["permission_denials"] == [
        {"tool_name": "Bash", "tool_use_id": tool_use_id, "tool_input": BASH.input}
    ]
    assert claude.close() == 0


def test_a_session_resumes_with_its_history_in_a_new_process(
    start_claude: Callable[..., Claude], fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Text("first answer"), Text("second answer"), Text("after resume"))

    claude = start_claude()
    claude.initialize()
    first = claude.turn("remember the word heron")[-1]
    # a second prompt in the same process: its own result, same session, cost accumulates
    second = claude.turn("and the word kestrel")[-1]
    assert claude.close() == 0
    session = first["session_id"]
    assert second["session_id"] == session
    assert second["usage"]["input_tokens"] == fake_anthropic.usage.input_tokens
    assert second["total_cost_usd"] == pytest.approx(2 * first["total_cost_usd"])

    again = start_claude("--resume", session)
    again.initialize()
    messages = again.turn("which words?")
    assert again.close() == 0

    assert messages[0]["type"] == "system" and messages[0]["session_id"] == session
    resumed = messages[-1]
    assert resumed["result"] == "after resume"
    assert resumed["session_id"] == session
    assert resumed["total_cost_usd"] == pytest.approx(3 * first["total_cost_usd"])

    # the model saw the whole conversation again, then the new prompt
    last = fake_anthropic.wait_for(3)[-1]
    said = [(m["role"], json.dumps(m["content"])) for m in last.messages if m["role"] != "system"]
    assert [role for role, _ in said] == ["user", "assistant", "user", "assistant", "user"]
    assert "heron" in said[0][1]
    assert "first answer" in said[1][1]
    assert "kestrel" in said[2][1]
    assert "second answer" in said[3][1]
    assert "which words?" in said[4][1]
