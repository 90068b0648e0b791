"""The fake Anthropic API speaks the Messages API's event stream, in script order, and records."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from .fake_anthropic import FakeAnthropic, Text, ToolUse, Usage


def post(fake: FakeAnthropic, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """POST /v1/messages?beta=true; the reply's server-sent events as (event, data) pairs."""
    request = urllib.request.Request(
        f"{fake.url}/v1/messages?beta=true",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "sk-test"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.headers["content-type"] == "text/event-stream"
        text = reply.read().decode()
    events = []
    for chunk in text.strip().split("\n\n"):
        event, data = chunk.split("\n")
        events.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def ask(text: str) -> dict[str, Any]:
    return {"model": "claude-x", "stream": True, "messages": [{"role": "user", "content": text}]}


def test_a_tool_use_turn_streams_as_the_api_does(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(ToolUse("Bash", {"command": "ls"}, id="toolu_1", usage=Usage(7, 3)))
    events = post(fake_anthropic, ask("list"))
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start, block, delta, _, end, _ = (data for _, data in events)
    assert start["message"]["model"] == "claude-x"
    assert start["message"]["usage"]["input_tokens"] == 7
    assert block["content_block"] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "Bash",
        "input": {},
    }
    assert delta["delta"]["type"] == "input_json_delta"
    assert json.loads(delta["delta"]["partial_json"]) == {"command": "ls"}
    assert end["delta"]["stop_reason"] == "tool_use"
    assert end["usage"] == {"output_tokens": 3}


def test_turns_are_taken_in_order_and_every_request_is_recorded(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.usage = Usage(input_tokens=11, output_tokens=5)
    fake_anthropic.script(Text("one"), Text("two"))
    replies = [post(fake_anthropic, ask(f"q{i}")) for i in range(3)]
    texts = [next(d["delta"]["text"] for n, d in r if n == "content_block_delta") for r in replies]
    assert texts[:2] == ["one", "two"]
    assert "no scripted turn left" in texts[2]
    assert next(d for n, d in replies[0] if n == "message_delta")["delta"]["stop_reason"] == (
        "end_turn"
    )
    assert next(d for n, d in replies[0] if n == "message_delta")["usage"]["output_tokens"] == 5

    requests = fake_anthropic.wait_for(3)
    assert [r.messages[0]["content"] for r in requests] == ["q0", "q1", "q2"]
    assert requests[0].path == "/v1/messages?beta=true"
    assert requests[0].headers["x-api-key"] == "sk-test"
    assert fake_anthropic.unused == []


def test_blocks_finds_what_the_client_sent_back(fake_anthropic: FakeAnthropic) -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "no", "is_error": True}
    body = ask("x")
    body["messages"].append({"role": "user", "content": [result]})
    post(fake_anthropic, body)
    [request] = fake_anthropic.conversation
    assert request.blocks("tool_result") == [result]


def test_waiting_for_requests_that_never_come_fails_at_the_deadline(
    fake_anthropic: FakeAnthropic,
) -> None:
    began = time.monotonic()
    with pytest.raises(AssertionError, match="1 requests to /v1/messages expected"):
        fake_anthropic.wait_for(1, timeout=0.2)
    assert time.monotonic() - began < 5
