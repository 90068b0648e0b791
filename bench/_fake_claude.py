"""A fake Claude Code CLI for bench/agent_stream.py: speaks stream-json on stdio as the engine
expects (engine/agents/claude.py), streaming assistant messages at a fixed rate, with no model.

Agent mode (what the engine runs as an agent's `binary`, with Claude Code's own flags, which
are ignored): reads the `initialize` control_request from stdin and answers it with a
control_response, reads the user message, prints `system/init` with a session_id, then EVENTS
`assistant` messages of one text block each (one JSON line each, shaped like the real CLI's),
paced on the clock at RATE a second, then a `result` with usage and total_cost_usd; then it
reads stdin until the engine closes it, and exits 0.

Plain mode (`--plain`, a `kind: command` task): prints the lines the engine keeps as the agent's
transcript (the same text, the same number of lines) at the same pace, as plain text; stdin is
not read.

Each line is its own write(2), as the real CLI writes each message. The text of event k is
`event k TIME pad`, TIME the wall clock when it was written, so that the engine's read delay can
be measured from the stored rows.

Options: --rate EVENTS_PER_S, --seconds S (EVENTS = RATE x S), --stats FILE (written at exit:
events, the monotonic times the stream started and ended, the most a line was behind its
schedule, this process's CPU seconds), --plain.
"""

from __future__ import annotations

import json
import os
import sys
import time

SESSION = "bench0000-0000-4000-8000-000000000000"
MODEL = "claude-bench-1"
PAD = "lorem ipsum dolor sit amet, consectetur adipiscing elit"
TICK = 0.001  # seconds between two looks at the clock
COST = 0.0123
USAGE = {
    "input_tokens": 2468,
    "output_tokens": 112,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 1000,
}


def option(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def text(k: int) -> str:
    return f"event {k} {time.time():.6f} {PAD}"


def assistant(k: int) -> str:
    message = {
        "id": f"msg_bench{k:08d}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text(k)}],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 3,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 12000,
            "output_tokens": 1,
            "service_tier": "standard",
        },
    }
    line = {
        "type": "assistant",
        "message": message,
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": f"00000000-0000-4000-8000-{k:012d}",
    }
    return json.dumps(line)


def init_line(plain: bool) -> str:
    if plain:  # what the engine shows for it
        return f"· session {SESSION} · model {MODEL}"
    init = {
        "type": "system",
        "subtype": "init",
        "session_id": SESSION,
        "cwd": os.getcwd(),
        "model": MODEL,
        "permissionMode": "default",
        "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write"],
        "apiKeySource": "none",
        "claude_code_version": "bench",
        "uuid": "00000000-0000-4000-8000-init00000000",
    }
    return json.dumps(init)


def result_line(plain: bool, events: int, seconds: float) -> str:
    if plain:
        return (
            f"· success: 1 turns, {USAGE['input_tokens']} in / {USAGE['output_tokens']} out "
            f"tokens, ${COST:.4f}"
        )
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": f"streamed {events} events",
        "stop_reason": "end_turn",
        "num_turns": 1,
        "session_id": SESSION,
        "total_cost_usd": COST,
        "usage": USAGE,
        "duration_ms": round(1000 * seconds),
        "duration_api_ms": round(1000 * seconds),
    }
    return json.dumps(result)


def handshake() -> bool:
    """Answer the engine's initialize, then wait for the prompt; False if stdin closes first."""
    while True:
        raw = sys.stdin.buffer.readline()
        if not raw:
            return False
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        if message.get("type") == "control_request":
            request = message.get("request") or {}
            if request.get("subtype") == "initialize":
                body = {"commands": [], "models": [{"value": "default"}], "pid": os.getpid()}
                answer = {
                    "subtype": "success",
                    "request_id": message.get("request_id"),
                    "response": body,
                }
                put(json.dumps({"type": "control_response", "response": answer}))
        elif message.get("type") == "user":
            return True


def put(line: str) -> None:
    data = (line + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def main() -> int:
    argv = sys.argv[1:]
    plain = "--plain" in argv
    rate = float(option(argv, "--rate", "2000"))
    seconds = float(option(argv, "--seconds", "10"))
    stats = option(argv, "--stats", "")
    events = round(rate * seconds)
    if not plain and not handshake():
        return 1
    put(init_line(plain))
    behind = 0.0
    start = time.monotonic()
    k = 0
    while k < events:
        now = time.monotonic()
        due = min(events, int((now - start) * rate) + 1)
        if due > k:
            behind = max(behind, now - (start + k / rate))
        while k < due:
            k += 1
            put(f"  {text(k)}" if plain else assistant(k))
        time.sleep(TICK)
    end = time.monotonic()
    put(result_line(plain, events, end - start))
    if not plain:
        while sys.stdin.buffer.readline():  # until the engine closes stdin
            pass
    if stats:
        t = os.times()
        with open(stats, "w") as f:
            json.dump(
                {
                    "events": events,
                    "start": start,
                    "end": end,
                    "behind": behind,
                    "cpu": t.user + t.system,
                },
                f,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
