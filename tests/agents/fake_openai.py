"""A scripted fake of the OpenAI Responses API on 127.0.0.1, for driving the Codex CLI offline.

Codex (0.169, `wire_api = "responses"` in its CODEX_HOME's config.toml, update checks, analytics
and plugins off) only requests ``POST /v1/responses`` with ``stream: true``, answered with the
same server-sent events as the real API. A test scripts the model's replies in order::

    fake.script(Shell("touch tool.txt"), Text("done"))

Each ``POST /v1/responses`` takes the next reply; when the script runs out, the reply's text
says so. A shell call is a ``function_call`` named ``exec_command`` with ``{"cmd": ...}`` (the
tool Codex 0.169 offers); a patch a ``custom_tool_call`` named ``apply_patch``. ``Fail`` answers
with an HTTP error (429, 500) instead; ``Slow(seconds, then)`` answers ``then`` that late.
Every request body is recorded (``fake.requests``), so a test can read the tool's output
(``function_call_output``) Codex sent back.

Manual use: ``python -m tests.agents.fake_openai PORT`` answers a shell call when the last user
message contains the word TOOL and no tool output came back yet, otherwise with text, forever.
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
    """Token counts reported in response.completed (cached ones are a part of input)."""

    input_tokens: int = 100
    output_tokens: int = 20
    cached_tokens: int = 0


@dataclass(frozen=True)
class Text:
    """A reply with an assistant message: the end of Codex's turn."""

    text: str
    usage: Usage | None = None


@dataclass(frozen=True)
class Shell:
    """A reply calling the shell tool (``exec_command``); ``escalate``: ask to run it outside
    the sandbox (``sandbox_permissions: require_escalated``)."""

    cmd: str
    escalate: bool = False
    usage: Usage | None = None


@dataclass(frozen=True)
class Patch:
    """A reply calling ``apply_patch`` (a custom tool: its input is the patch's text)."""

    patch: str
    usage: Usage | None = None


@dataclass(frozen=True)
class Fail:
    """An HTTP error instead of a reply (429: rate limited, 500: the server failed)."""

    status: int
    message: str = "the fake failed on purpose"


@dataclass(frozen=True)
class Slow:
    """Answer `seconds` late (nothing sent until then: a stalled model), then with `then`."""

    seconds: float
    then: Text | Shell | Patch | Fail


Reply = Text | Shell | Patch | Fail | Slow


@dataclass(frozen=True)
class Request:
    """One request Codex made: method, path (with query), the parsed JSON body, headers."""

    method: str
    path: str
    body: Json
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        """A ``POST /v1/responses``: one step of the conversation."""
        return self.method == "POST" and self.path.split("?", 1)[0].endswith("/responses")

    @property
    def items(self) -> list[Json]:
        """The conversation's input items (messages, calls, their outputs)."""
        items = self.body.get("input")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def of_type(self, kind: str) -> list[Json]:
        """Input items of one type (``function_call_output``, ``message``...)."""
        return [i for i in self.items if i.get("type") == kind]

    @property
    def tools(self) -> list[str]:
        return [str(t.get("name")) for t in self.body.get("tools") or [] if isinstance(t, dict)]


def _sse(event: str, data: Json) -> bytes:
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()


@dataclass
class FakeOpenAI(ScriptedFake[Request, Reply]):
    """The fake server: ``start()`` binds a free port; ``url`` is the provider's base_url (with
    its ``/v1``); each ``POST /v1/responses`` takes the next scripted reply
    (tests/agents/scripted.py)."""

    name: ClassVar[str] = "fake_openai"
    suffix: ClassVar[str] = "/v1"
    conversation_is: ClassVar[str] = "requests to /v1/responses"

    usage: Usage = field(default_factory=Usage)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def in_conversation(self, request: Request) -> bool:
        return request.is_response

    def ran_out(self) -> Reply:
        return Text("fake_openai: no scripted reply left for this request")

    def _events(self, model: str, reply: Text | Shell | Patch) -> Iterator[bytes]:
        k = next(self._ids)
        base: Json = {"id": f"resp_{k}", "object": "response", "model": model, "output": []}
        yield _sse("response.created", {"response": {**base, "status": "in_progress"}})
        if isinstance(reply, Text):
            msg: Json = {"type": "message", "id": f"msg_{k}", "role": "assistant"}
            start = {**msg, "status": "in_progress", "content": []}
            yield _sse("response.output_item.added", {"output_index": 0, "item": start})
            where = {"output_index": 0, "item_id": msg["id"], "content_index": 0}
            yield _sse("response.output_text.delta", {**where, "delta": reply.text})
            yield _sse("response.output_text.done", {**where, "text": reply.text})
            part = {"type": "output_text", "text": reply.text, "annotations": []}
            item: Json = {**msg, "status": "completed", "content": [part]}
        elif isinstance(reply, Shell):
            args: Json = {"cmd": reply.cmd}
            if reply.escalate:
                args |= {"sandbox_permissions": "require_escalated", "justification": "asked"}
            item = {"type": "function_call", "id": f"fc_{k}", "call_id": f"call_{k}"}
            item |= {"name": "exec_command", "arguments": json.dumps(args), "status": "completed"}
            yield _sse("response.output_item.added", {"output_index": 0, "item": item})
        else:
            item = {"type": "custom_tool_call", "id": f"ctc_{k}", "call_id": f"call_{k}"}
            item |= {"name": "apply_patch", "input": reply.patch, "status": "completed"}
            yield _sse("response.output_item.added", {"output_index": 0, "item": item})
        yield _sse("response.output_item.done", {"output_index": 0, "item": item})
        usage = reply.usage or self.usage
        counts = {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }
        done = {**base, "status": "completed", "output": [item], "usage": counts}
        yield _sse("response.completed", {"response": done})


class _Handler(JsonHandler):
    server_fake: FakeOpenAI

    def do_GET(self) -> None:
        self.server_fake._take(
            Request("GET", self.path, {}, {k.lower(): v for k, v in self.headers.items()})
        )
        self._reply_json(404, {"error": {"message": f"not found: {self.path}"}})

    def do_POST(self) -> None:
        body = self._body()
        request = Request("POST", self.path, body, {k.lower(): v for k, v in self.headers.items()})
        reply = self.server_fake._take(request)  # (a reply for a POST /v1/responses only)
        if reply is None:
            self._reply_json(404, {"error": {"message": f"not found: {self.path}"}})
            return
        if isinstance(reply, Slow):
            time.sleep(reply.seconds)  # (the fake's thread: the model is slow to answer)
            reply = reply.then
        if isinstance(reply, Fail):
            kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
            error = {"message": reply.message, "type": kind, "code": kind}
            self._reply_json(reply.status, {"error": error})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for chunk in self.server_fake._events(str(body.get("model") or "gpt-fake"), reply):
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True


def _manual_reply(request: Request) -> Reply:
    """For manual runs: a shell call when a user said TOOL and no tool output came back yet."""
    said = json.dumps([i.get("content") for i in request.of_type("message")])
    if "TOOL" in said and not request.of_type("function_call_output"):
        return Shell("echo hello-from-tool > tool.txt")
    return Text("Done: all good.")


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else 0
    fake = FakeOpenAI(port=port, fallback=_manual_reply)
    fake.serve("fake OpenAI Responses API on {url} (a Codex provider's base_url)")


FakeOpenAI.handler = _Handler


if __name__ == "__main__":
    main(sys.argv)
