"""What the fake model servers (`fake_anthropic`, `fake_openai`, `fake_gemini`) share: a script
of turns that the conversation's requests take in order, every request recorded, an HTTP server
on a free port in a thread, and a wait for the conversation to reach a length. Each fake says
which requests are the conversation's, what a request gets when the script has run out, and how
its protocol answers (its handler)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar

Json = dict[str, Any]

R = TypeVar("R")  # a recorded request
T = TypeVar("T")  # a scripted turn


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler that reads JSON bodies and answers JSON."""

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

    def _body(self) -> Json:
        """The request's JSON body; one that does not parse, or is not an object, kept as is."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {"_unparsed": raw.decode(errors="replace")}
        return body if isinstance(body, dict) else {"_body": body}


@dataclass
class ScriptedFake(ABC, Generic[R, T]):
    """The fake server: ``start()`` binds a free port (or ``port``); ``url`` is its base URL."""

    name: ClassVar[str]  # for messages and the server's thread: `fake_anthropic`
    handler: ClassVar[type[JsonHandler]]  # answers the protocol; its `server_fake` is the fake
    suffix: ClassVar[str] = ""  # after the host and port in `url` (`/v1`)
    conversation_is: ClassVar[str] = "conversation requests"  # as `wait_for`'s failure says

    host: str = "127.0.0.1"
    port: int = 0
    #: chooses the turn when the script is empty (manual runs); None: say the script ran out
    fallback: Callable[[R], T] | None = None
    requests: list[R] = field(default_factory=list, init=False)
    _script: list[T] = field(default_factory=list, init=False)
    _lock: threading.Condition = field(default_factory=threading.Condition, init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    # -- what each fake says -------------------------------------------------------------------

    @abstractmethod
    def in_conversation(self, request: R) -> bool:
        """Is it a step of the conversation (one that takes the next turn)?"""

    @abstractmethod
    def ran_out(self) -> T:
        """What a conversation request gets when the script is empty and there is no fallback."""

    # -- control, from the test ----------------------------------------------------------------

    def script(self, *turns: T) -> None:
        """Append turns: each conversation request takes the next one."""
        with self._lock:
            self._script.extend(turns)

    @property
    def url(self) -> str:
        assert self._server is not None, f"{type(self).__name__}.start() first"
        return f"http://{self.host}:{self._server.server_address[1]}{self.suffix}"

    @property
    def conversation(self) -> list[R]:
        """The conversation's requests so far, in order (all of them: ``requests``)."""
        with self._lock:
            return [r for r in self.requests if self.in_conversation(r)]

    @property
    def unused(self) -> list[T]:
        """Scripted turns no request has taken yet."""
        with self._lock:
            return list(self._script)

    def wait_for(self, count: int, timeout: float = 30) -> list[R]:
        """The conversation once it has ``count`` requests; fail if that takes over ``timeout``."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.conversation) >= count, timeout):
                raise AssertionError(
                    f"{self.name}: {count} {self.conversation_is} expected within {timeout}s,"
                    f" got {len(self.conversation)}"
                )
            return self.conversation

    def start(self) -> Self:
        fake = self

        class Handler(self.handler):  # type: ignore[name-defined,misc]
            server_fake = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=self.name.replace("_", "-"), daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve(self, banner: str) -> None:
        """For manual runs: start, say `banner` (its URL: ``{url}``), serve until Ctrl-C."""
        self.start()
        print(banner.format(url=self.url), flush=True)
        try:
            assert self._thread is not None
            self._thread.join()
        except KeyboardInterrupt:
            self.close()

    # -- answering, from the server threads ----------------------------------------------------

    def _take(self, request: R) -> T | None:
        """Record a request; a conversation request takes the next turn (None for the others)."""
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            if not self.in_conversation(request):
                return None
            if self._script:
                return self._script.pop(0)
        if self.fallback is not None:
            return self.fallback(request)
        return self.ran_out()
