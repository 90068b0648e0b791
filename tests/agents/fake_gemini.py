"""A scripted fake of the Gemini API (generativelanguage v1beta) on 127.0.0.1, for driving the
Gemini CLI offline (``GOOGLE_GEMINI_BASE_URL`` is its ``url``, ``GEMINI_API_KEY`` anything).

The CLI asks ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` for each step of the
conversation, and ``:generateContent`` with a JSON response schema for side questions (its
model router, a next-speaker check): those are answered with a small JSON object that fits
them and take no scripted turn. A test scripts the model's turns in order::

    fake.script(Call("run_shell_command", {"command": "touch tool.txt"}), Text("done"))

Each conversation request takes the next turn; when the script runs out, the reply's text says
so. ``Status(429)`` answers one request with an HTTP error; ``Slow(seconds, then)`` answers
``then`` that late. Every request is recorded
(``fake.requests``; ``fake.conversation`` the conversation's), so a test can read the
``functionResponse`` the CLI sent back. Token counts come from the turn or the server's default.

Manual use: ``python -m tests.agents.fake_gemini PORT`` answers with a shell call when the user
said TOOL and no function response came back yet, otherwise with text, forever.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """A reply's usageMetadata."""

    prompt: int = 100
    candidates: int = 20
    cached: int = 0

    def metadata(self) -> Json:
        meta = {
            "promptTokenCount": self.prompt,
            "candidatesTokenCount": self.candidates,
            "totalTokenCount": self.prompt + self.candidates,
        }
        if self.cached:
            meta["cachedContentTokenCount"] = self.cached
        return meta


@dataclass(frozen=True)
class Text:
    """The model answers with text and stops."""

    text: str
    usage: Usage | None = None


@dataclass(frozen=True)
class Call:
    """The model calls a function (``run_shell_command`` {command}, ``write_file``...)."""

    name: str
    args: Json
    usage: Usage | None = None


@dataclass(frozen=True)
class Status:
    """The API answers one request with an HTTP error (429: quota, 500: a server error)."""

    code: int
    message: str = "fake_gemini: scripted error"


@dataclass(frozen=True)
class Slow:
    """Answer `seconds` late (nothing sent until then: a stalled model), then with `then`."""

    seconds: float
    then: Text | Call | Status


Turn = Text | Call | Status | Slow


@dataclass(frozen=True)
class Request:
    """One request the CLI made: method, path (with query), the parsed JSON body."""

    method: str
    path: str
    body: Json
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_side(self) -> bool:
        """A side question (JSON answer wanted: routing, next speaker), not the conversation."""
        config = self.body.get("generationConfig") or self.body.get("config") or {}
        return isinstance(config, dict) and bool(
            config.get("responseMimeType") == "application/json"
            or config.get("responseJsonSchema")
            or config.get("responseSchema")
        )

    @property
    def is_turn(self) -> bool:
        """A step of the conversation, answered with the next scripted turn."""
        path = self.path.split("?", 1)[0]
        wants = path.endswith(":streamGenerateContent") or path.endswith(":generateContent")
        return self.method == "POST" and wants and not self.is_side

    @property
    def contents(self) -> list[Json]:
        contents: list[Json] = self.body.get("contents") or []
        return contents

    def parts(self, kind: str) -> list[Json]:
        """The parts of one kind (``functionResponse``, ``text``...) in this request: each
        part's value."""
        return [
            p[kind]
            for c in self.contents
            if isinstance(c, dict)
            for p in c.get("parts") or []
            if isinstance(p, dict) and kind in p
        ]


@dataclass
class FakeGemini:
    """The fake server: ``start()`` binds a free port; ``url`` is GOOGLE_GEMINI_BASE_URL."""

    usage: Usage = field(default_factory=Usage)
    host: str = "127.0.0.1"
    port: int = 0
    #: chooses the turn when the script is empty (manual runs); None: say the script ran out
    fallback: Callable[[Request], Turn] | None = None
    requests: list[Request] = field(default_factory=list, init=False)
    _turns: list[Turn] = field(default_factory=list, init=False)
    _lock: threading.Condition = field(default_factory=threading.Condition, init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def script(self, *turns: Turn) -> None:
        """Append turns: each conversation request takes the next one."""
        with self._lock:
            self._turns.extend(turns)

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeGemini.start() first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def conversation(self) -> list[Request]:
        """The conversation's requests so far, in order (all of them: ``requests``)."""
        with self._lock:
            return [r for r in self.requests if r.is_turn]

    @property
    def unused(self) -> list[Turn]:
        with self._lock:
            return list(self._turns)

    def wait_for(self, count: int, timeout: float = 30) -> list[Request]:
        """The conversation once it has ``count`` requests; fail if that takes over ``timeout``."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.conversation) >= count, timeout):
                raise AssertionError(
                    f"fake_gemini: {count} conversation requests expected within {timeout}s,"
                    f" got {len(self.conversation)}"
                )
            return self.conversation

    def start(self) -> FakeGemini:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-gemini", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, request: Request) -> Turn | None:
        """Record a request; a conversation request takes the next turn."""
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            if not request.is_turn:
                return None
            if self._turns:
                return self._turns.pop(0)
        if self.fallback is not None:
            return self.fallback(request)
        return Text("fake_gemini: no scripted turn left for this request")

    def reply(self, model: str, turn: Turn) -> Json:
        """A GenerateContentResponse for a turn."""
        assert not isinstance(turn, Status | Slow)
        if isinstance(turn, Call):
            part: Json = {"functionCall": {"name": turn.name, "args": turn.args}}
        else:
            part = {"text": turn.text}
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": (turn.usage or self.usage).metadata(),
            "modelVersion": model,
        }


# what a side question gets: the router's choice, the next-speaker check's answer
SIDE_ANSWER = {
    "reasoning": "a simple task",
    "model_choice": "flash",
    "complexity_reasoning": "simple",
    "complexity_score": 1,
    "next_speaker": "user",
}


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeGemini
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
        self.server_fake._record(Request("GET", self.path, {}, dict(self.headers.items())))
        self._reply_json(200, {"models": []})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode(errors="replace")}
        body = body if isinstance(body, dict) else {"_body": body}
        request = Request("POST", self.path, body, dict(self.headers.items()))
        path = self.path.split("?", 1)[0]
        model = path.rsplit("/", 1)[-1].split(":", 1)[0] or "gemini-fake"
        fake = self.server_fake
        turn = fake._record(request)
        if isinstance(turn, Slow):
            time.sleep(turn.seconds)  # (the fake's thread: the model is slow to answer)
            turn = turn.then
        if path.endswith(":countTokens"):
            self._reply_json(200, {"totalTokens": fake.usage.prompt})
            return
        if path.endswith(":embedContent") or path.endswith(":batchEmbedContents"):
            self._reply_json(200, {"embedding": {"values": [0.0] * 8}})
            return
        if turn is None and request.is_side:
            turn = Text(json.dumps(SIDE_ANSWER))
        if turn is None:
            self._reply_json(404, {"error": {"code": 404, "message": path, "status": "NOT_FOUND"}})
            return
        if isinstance(turn, Status):
            statuses = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}
            status = statuses.get(turn.code, "UNAVAILABLE")
            error = {"code": turn.code, "message": turn.message, "status": status}
            self._reply_json(turn.code, {"error": error})
            return
        reply = fake.reply(model, turn)
        if not path.endswith(":streamGenerateContent"):
            self._reply_json(200, reply)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(f"data: {json.dumps(reply)}\r\n\r\n".encode())
        self.wfile.flush()
        self.close_connection = True


def _manual_turn(request: Request) -> Turn:
    """For manual runs: a shell call when the user said TOOL and no function response came
    back yet."""
    if "TOOL" in json.dumps(request.parts("text")) and not request.parts("functionResponse"):
        return Call("run_shell_command", {"command": "echo hello-from-tool > tool.txt"})
    return Text("Done: all good.")


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else 0
    fake = FakeGemini(port=port, fallback=_manual_turn).start()
    print(f"fake Gemini API on {fake.url}  (GOOGLE_GEMINI_BASE_URL={fake.url})", flush=True)
    try:
        assert fake._thread is not None
        fake._thread.join()
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    main(sys.argv)
