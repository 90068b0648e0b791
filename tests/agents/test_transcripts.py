"""A coding agent's file edits read as diffs in its transcript (issue 17, point 2), whatever the
protocol: Claude Code sends an Edit's old and new text, Codex a unified diff, ACP agents old and
new text; at most 40 lines of each file's diff are shown, the rest counted."""

from __future__ import annotations

import json

from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.claude import Conversation
from phasegate.engine.agents.talk import diff_lines
from phasegate.engine.plan.model import Task


def _claude() -> Conversation:
    return Conversation(Launch(Task(id="w", prompt="p"), 1, {}, "/w"), "p", None)


def test_a_claude_edit_and_write_read_as_diffs() -> None:
    edit = {"file_path": "/w/src/a.py", "old_string": "x = 1", "new_string": "x = 2\ny = 3"}
    write = {"file_path": "/w/new.txt", "content": "hello"}
    message = {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "tool_use", "name": "Edit", "input": edit},
                {"type": "tool_use", "name": "Write", "input": write},
            ]
        },
    }
    shown = _claude().read("out", json.dumps(message)).show
    assert shown == [
        "→ Edit: /w/src/a.py",
        "    @@ -1 +1,2 @@",
        "    -x = 1",
        "    +x = 2",
        "    +y = 3",
        "→ Write: /w/new.txt",
        "    @@ -0,0 +1 @@",
        "    +hello",
    ]


def test_a_long_diff_is_cut_and_counted() -> None:
    lines = diff_lines("big.txt", "", "".join(f"{i}\n" for i in range(100)))
    assert len(lines) == 41 and lines[-1] == "    … 61 more lines"


def _response(mid: str, tokens_in: int, tokens_out: int) -> str:
    usage = {"input_tokens": tokens_in, "output_tokens": tokens_out, "cache_read_input_tokens": 0}
    body = {"id": mid, "usage": usage, "content": [{"type": "text", "text": "..."}]}
    return json.dumps({"type": "assistant", "message": body})


def test_a_claude_responses_tokens_count_while_the_prompt_runs_once_each() -> None:
    talk = _claude()
    first = talk.read("out", _response("msg_1", 100, 1)).events
    again = talk.read("out", _response("msg_1", 100, 1)).events  # (a second block of it)
    second = talk.read("out", _response("msg_2", 120, 1)).events
    assert [(e.input_tokens, e.output_tokens, e.partial) for e in first + second] == [  # type: ignore[attr-defined]
        (100, 1, True),
        (120, 1, True),
    ]
    assert again == []
    result = {
        "type": "result",
        "subtype": "success",
        "num_turns": 2,
        "total_cost_usd": 0.0016,
        "usage": {"input_tokens": 220, "output_tokens": 40, "cache_read_input_tokens": 0},
    }
    (end,) = talk.read("out", json.dumps(result)).events
    # the result settles the rest: the totals are the CLI's, counted once
    assert (end.input_tokens, end.output_tokens, end.partial) == (0, 38, False)  # type: ignore[attr-defined]
    assert end.cost_usd == 0.0016  # type: ignore[attr-defined]
