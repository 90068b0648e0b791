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
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .scripted import JsonHandler, ScriptedFake

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
class FakeGemini(ScriptedFake[Request, Turn]):
    """The fake server: ``start()`` binds a free port; ``url`` is GOOGLE_GEMINI_BASE_URL; each
    conversation request takes the next scripted turn (tests/agents/scripted.py)."""

    name: ClassVar[str] = "fake_gemini"

    usage: Usage = field(default_factory=Usage)

    def in_conversation(self, request: Request) -> bool:
        return request.is_turn

    def ran_out(self) -> Turn:
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


class _Handler(JsonHandler):
    server_fake: FakeGemini

    def do_GET(self) -> None:
        self.server_fake._take(Request("GET", self.path, {}, dict(self.headers.items())))
        self._reply_json(200, {"models": []})

    def do_POST(self) -> None:
        body = self._body()
        request = Request("POST", self.path, body, dict(self.headers.items()))
        path = self.path.split("?", 1)[0]
        model = path.rsplit("/", 1)[-1].split(":", 1)[0] or "gemini-fake"
        fake = self.server_fake
        turn = fake._take(request)
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
    fake = FakeGemini(port=port, fallback=_manual_turn)
    fake.serve("fake Gemini API on {url}  (GOOGLE_GEMINI_BASE_URL={url})")


FakeGemini.handler = _Handler


if __name__ == "__main__":
    main(sys.argv)
