"""A scripted fake of the Anthropic Messages API on 127.0.0.1, for driving Claude Code offline.

The real CLI only needs ``POST /v1/messages`` (``?beta=true``, ``stream: true``), answered with
the same server-sent events as the real API. A test scripts the assistant's turns in order::

    fake.script(ToolUse("Bash", {"command": "touch tool.txt"}), Text("done"))

Each ``POST /v1/messages`` takes the next turn (with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
the CLI makes no side requests, so one request is one step of the conversation); when the script
runs out, the reply's text says so.
Every request body is recorded (``fake.requests``), so a test can read the ``tool_result`` or
the denial message the CLI sent back. Token counts come from the turn or the server's default.

Manual use: ``python -m tests.agents.fake_anthropic PORT`` answers with a Bash tool use when the
last user message contains the word TOOL, otherwise with text, forever.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .scripted import JsonHandler, ScriptedFake

Json = dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Token counts reported for one reply, as the API reports them."""

    input_tokens: int = 100
    output_tokens: int = 20
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True)
class Text:
    """An assistant turn that answers with text and ends the turn (stop_reason end_turn)."""

    text: str
    usage: Usage | None = None


@dataclass(frozen=True)
class ToolUse:
    """An assistant turn that asks to use a tool (stop_reason tool_use)."""

    name: str
    input: Json
    id: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Slow:
    """Answer `seconds` late (nothing sent until then: a stalled model), then with `then`."""

    seconds: float
    then: Text | ToolUse


Turn = Text | ToolUse | Slow


@dataclass(frozen=True)
class Request:
    """One request the CLI made: method, path (with query), the parsed JSON body, headers."""

    method: str
    path: str
    body: Json
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_message(self) -> bool:
        """A ``POST /v1/messages``: one step of the conversation, answered with the next turn."""
        return self.method == "POST" and self.path.split("?", 1)[0] == "/v1/messages"

    @property
    def messages(self) -> list[Json]:
        messages: list[Json] = self.body.get("messages") or []
        return messages

    def blocks(self, kind: str) -> list[Json]:
        """Content blocks of one type (``tool_result``, ``text``...) in this request's messages."""
        found = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                found += [b for b in content if isinstance(b, dict) and b.get("type") == kind]
        return found


def _sse(event: str, data: Json) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class FakeAnthropic(ScriptedFake[Request, Turn]):
    """The fake server: ``start()`` binds a free port, ``url`` is the ANTHROPIC_BASE_URL; each
    ``POST /v1/messages`` takes the next scripted turn (tests/agents/scripted.py)."""

    name: ClassVar[str] = "fake_anthropic"
    conversation_is: ClassVar[str] = "requests to /v1/messages"

    usage: Usage = field(default_factory=Usage)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def in_conversation(self, request: Request) -> bool:
        return request.is_message

    def ran_out(self) -> Turn:
        return Text("fake_anthropic: no scripted turn left for this request")

    def _events(self, model: str, turn: Turn) -> Iterator[bytes]:
        usage = turn.usage or self.usage
        yield _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_fake_{next(self._ids)}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": usage.input_tokens,
                        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                        "cache_read_input_tokens": usage.cache_read_input_tokens,
                        "output_tokens": 1,
                    },
                },
            },
        )
        if isinstance(turn, ToolUse):
            block: Json = {
                "type": "tool_use",
                "id": turn.id or f"toolu_fake_{next(self._ids)}",
                "name": turn.name,
                "input": {},
            }
            delta: Json = {"type": "input_json_delta", "partial_json": json.dumps(turn.input)}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": turn.text}
            stop = "end_turn"
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        yield _sse(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage.output_tokens},
            },
        )
        yield _sse("message_stop", {"type": "message_stop"})

    def _message(self, model: str, turn: Turn) -> Json:
        """The same turn as one JSON message, for a request that does not stream."""
        usage = turn.usage or self.usage
        if isinstance(turn, ToolUse):
            content: Json = {
                "type": "tool_use",
                "id": turn.id or f"toolu_fake_{next(self._ids)}",
                "name": turn.name,
                "input": turn.input,
            }
        else:
            content = {"type": "text", "text": turn.text}
        return {
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [content],
            "stop_reason": "tool_use" if isinstance(turn, ToolUse) else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        }


class _Handler(JsonHandler):
    server_fake: FakeAnthropic

    def do_GET(self) -> None:
        self.server_fake._take(
            Request("GET", self.path, {}, {k.lower(): v for k, v in self.headers.items()})
        )
        self._reply_json(
            404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}}
        )

    def do_POST(self) -> None:
        body = self._body()
        request = Request("POST", self.path, body, {k.lower(): v for k, v in self.headers.items()})
        path = self.path.split("?", 1)[0]
        turn = self.server_fake._take(request)  # (a turn for a POST /v1/messages only)
        if path == "/v1/messages/count_tokens":
            self._reply_json(200, {"input_tokens": self.server_fake.usage.input_tokens})
            return
        if turn is None:
            self._reply_json(
                404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
            )
            return
        if isinstance(turn, Slow):
            time.sleep(turn.seconds)  # (the fake's thread: the model is slow to answer)
            turn = turn.then
        model = str(body.get("model") or "claude-fake")
        if not body.get("stream"):
            self._reply_json(200, self.server_fake._message(model, turn))
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for chunk in self.server_fake._events(model, turn):
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True


def _manual_turn(request: Request) -> Turn:
    """For manual runs: a Bash tool use when a user said TOOL and no tool result came back yet."""
    said = json.dumps([m.get("content") for m in request.messages if m.get("role") == "user"])
    if "TOOL" in said and not request.blocks("tool_result"):
        return ToolUse(
            "Bash", {"command": "echo hello-from-tool > tool.txt", "description": "write a file"}
        )
    return Text("Done: all good.")


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else 0
    fake = FakeAnthropic(port=port, fallback=_manual_turn)
    fake.serve("fake Anthropic API on {url}  (ANTHROPIC_BASE_URL={url})")


FakeAnthropic.handler = _Handler


if __name__ == "__main__":
    main(sys.argv)
