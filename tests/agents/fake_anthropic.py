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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
class FakeAnthropic:
    """The fake server: ``start()`` binds a free port, ``url`` is the ANTHROPIC_BASE_URL."""

    usage: Usage = field(default_factory=Usage)
    host: str = "127.0.0.1"
    port: int = 0
    #: chooses the turn when the script is empty (manual runs); None: say the script ran out
    fallback: Callable[[Request], Turn] | None = None
    requests: list[Request] = field(default_factory=list, init=False)
    _turns: list[Turn] = field(default_factory=list, init=False)
    _lock: threading.Condition = field(default_factory=threading.Condition, init=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    # -- control, from the test ------------------------------------------------------------

    def script(self, *turns: Turn) -> None:
        """Append turns: each ``POST /v1/messages`` takes the next one."""
        with self._lock:
            self._turns.extend(turns)

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeAnthropic.start() first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def conversation(self) -> list[Request]:
        """The ``POST /v1/messages`` requests so far, in order (all of them: ``requests``)."""
        with self._lock:
            return [r for r in self.requests if r.is_message]

    @property
    def unused(self) -> list[Turn]:
        """Scripted turns no request has taken yet."""
        with self._lock:
            return list(self._turns)

    def wait_for(self, count: int, timeout: float = 30) -> list[Request]:
        """The conversation once it has ``count`` requests; fail if that takes over ``timeout``."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.conversation) >= count, timeout):
                raise AssertionError(
                    f"fake_anthropic: {count} requests to /v1/messages expected within"
                    f" {timeout}s, got {len(self.conversation)}"
                )
            return self.conversation

    def start(self) -> FakeAnthropic:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering, from the server threads ------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()

    def _take_turn(self, request: Request) -> Turn:
        """Record a message request and take the next turn for it."""
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            if self._turns:
                return self._turns.pop(0)
        if self.fallback is not None:
            return self.fallback(request)
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


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply_json(self, status: int, data: Json) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.server_fake._record(
            Request("GET", self.path, {}, {k.lower(): v for k, v in self.headers.items()})
        )
        self._reply_json(
            404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}}
        )

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode(errors="replace")}
        request = Request(
            "POST",
            self.path,
            body if isinstance(body, dict) else {"_body": body},
            {k.lower(): v for k, v in self.headers.items()},
        )
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self.server_fake._record(request)
            self._reply_json(200, {"input_tokens": self.server_fake.usage.input_tokens})
            return
        if path != "/v1/messages":
            self.server_fake._record(request)
            self._reply_json(
                404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
            )
            return
        turn = self.server_fake._take_turn(request)
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
    fake = FakeAnthropic(port=port, fallback=_manual_turn).start()
    print(f"fake Anthropic API on {fake.url}  (ANTHROPIC_BASE_URL={fake.url})", flush=True)
    try:
        assert fake._thread is not None
        fake._thread.join()
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    main(sys.argv)
