"""Claude Code as an agent, spoken to in its own protocol (docs/agents.md): `claude -p` with
stream-json on stdin and stdout and `--permission-prompt-tool stdio`, so that each tool it wants
to use is asked of the engine: the plan's rules answer it, or a person does, like a gate.

The adapter starts the CLI; its Conversation reads each line the CLI prints into a readable
transcript (the task's output), the usage the CLI reports, and the tool requests, and says
what to write back. It never runs a tool and never scrapes a terminal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.talk import (
    SHOWN,
    Ask,
    Said,
    detail,
    diff_lines,
    hider,
    integer,
    json_object,
    one_line,
    ruling,
    task_prompt,
)
from phasegate.engine.exec.base import ProcSpec
from phasegate.engine.model import events as ev
from phasegate.engine.model.secrets import Redactor
from phasegate.engine.plan.agents import paired
from phasegate.engine.plan.model import Agent, Permissions


class ClaudeAdapter:
    def __init__(self, name: str, agent: Agent, values: dict[str, str]) -> None:
        self.name, self._agent, self._values = name, agent, values

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        agent = self._agent
        argv = [
            agent.binary or "claude",
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
        ]
        # (the CLI runs what it deems safe, `ls`, a Read, without asking: its own deny list
        # holds for every call. One argument, `=`: the flag takes a list, a rule has spaces; a
        # rule whose parentheses do not pair is left out: the CLI drops the list with it)
        deny = [r for r in (agent.permissions.deny if agent.permissions else ()) if paired(r)]
        if deny:
            argv.append("--disallowedTools=" + ",".join(deny))
        if agent.model:
            argv += ["--model", agent.model]
        if launch.session:  # a retry or a rework goes on with the agent's session
            argv += ["--resume", launch.session]
        argv += agent.args
        env = {**launch.env, **agent.env}
        spec = ProcSpec(argv, env, launch.cwd, launch.task.keep_background, stdin=True)
        return spec, f"{argv[0]} (claude): {one_line(self.prompt(launch))[:120]}"

    def prompt(self, launch: Launch) -> str:
        return task_prompt(launch, self._values)

    def conversation(self, launch: Launch) -> Conversation:
        agent = self._agent
        return Conversation(launch, self.prompt(launch), agent.permissions, hider(launch, agent))


class Conversation:
    """One attempt's exchange with the CLI. What it shows of a message is read from a copy with
    the attempt's secrets taken out of each text, whole (`hide`); what it answers, from the
    message as the CLI sent it."""

    def __init__(
        self,
        launch: Launch,
        prompt: str,
        rules: Permissions | None,
        hide: Redactor | None = None,
    ) -> None:
        self._launch, self._prompt, self._rules = launch, prompt, rules
        self._hide = hide or hider(launch)
        self.session = ""
        self.asked = 0  # tool requests so far (their ids are numbered)
        self._counted: set[str] = set()  # model responses whose tokens were counted (their ids)
        self._partial = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}

    def opening(self) -> list[str]:
        """What to send first: the handshake, then the prompt."""
        init = {"subtype": "initialize", "hooks": None}
        user = {"role": "user", "content": self._prompt}
        return [
            json.dumps({"type": "control_request", "request_id": "init-1", "request": init}),
            json.dumps(
                {"type": "user", "message": user, "parent_tool_use_id": None, "session_id": ""}
            ),
        ]

    def read(self, stream: str, text: str) -> Said:
        said = Said()
        raw = json_object(stream, text, said)
        if raw is None:
            return said
        message = self._hide.value(raw)  # (each text whole: a tool's output, the model's)
        kind = message.get("type")
        if kind == "system" and message.get("subtype") == "init":
            session = str(message.get("session_id") or "")
            if session and session != self.session:  # (kept at once: a take-over after a
                self.session = session  # crash goes on with it)
                task, attempt = self._launch.task.id, self._launch.attempt
                said.events.append(ev.TaskUsage(0.0, task, attempt, session_id=session))
            said.show.append(f"· session {self.session} · model {message.get('model', '?')}")
        elif kind == "system" and message.get("subtype") == "api_retry":
            said.show.append(_retry(message))
        elif kind == "assistant":
            said.show += _assistant(message)
            self._count(message, said)
        elif kind == "user":
            said.show += _tool_results(message, self._hide.text)
        elif kind == "control_request":
            self._request(raw, message, said)
        elif kind == "result":
            self._result(message, said)
        return said

    def answer(self, ask: Ask, allowed: bool, message: str) -> str:
        """The control_response that allows or denies the request."""
        if allowed:
            response: dict[str, Any] = {"behavior": "allow", "updatedInput": ask.tool_input}
        else:
            response = {"behavior": "deny", "message": message or "denied"}
        body = {"subtype": "success", "request_id": ask.request, "response": response}
        return json.dumps({"type": "control_response", "response": body})

    def _request(self, raw: dict[str, Any], message: dict[str, Any], said: Said) -> None:
        """A tool request: the rules judge, and the answer carries, its input as sent (`raw`);
        people see it without the attempt's secrets (`message`)."""
        request, shown = raw.get("request"), message.get("request")
        if not isinstance(request, dict) or request.get("subtype") != "can_use_tool":
            return  # (nothing else is asked of a client in this mode)
        assert isinstance(shown, dict)
        tool = str(request.get("tool_name", "?"))
        tool_input = request.get("input")
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        shown_input = shown.get("input")
        ask = Ask(
            str(raw.get("request_id", "")),
            tool,
            detail(tool, shown_input if isinstance(shown_input, dict) else {}),
            one_line(str(shown.get("description") or "")),
            tool_input,
        )
        verdict, rule = ruling(self._rules, tool, tool_input)
        if verdict == "ask":
            said.asks.append(ask)
            said.show.append(ask.waiting())
            return
        allowed = verdict == "allow"
        why = f"the plan's rule {rule} {'allows' if allowed else 'denies'} it"
        said.write.append(self.answer(ask, allowed, why))
        said.show.append(f"{'✓' if allowed else '✗'} {tool}: {ask.detail} ({why})")

    def _count(self, message: dict[str, Any], said: Said) -> None:
        """A model response's tokens while the prompt runs (each response once, however many
        messages repeat it), so that budgets are checked before its end; its result settles
        the rest (the CLI gives a response's output tokens in full only there)."""
        body = message.get("message")
        usage = body.get("usage") if isinstance(body, dict) else None
        key = str(body.get("id") or "") if isinstance(body, dict) else ""
        if not isinstance(usage, dict) or not key or key in self._counted:
            return
        self._counted.add(key)
        counts = _tokens(usage)
        for name, n in counts.items():
            self._partial[name] += n
        said.events.append(
            ev.TaskUsage(
                0.0,
                self._launch.task.id,
                self._launch.attempt,
                input_tokens=counts["input_tokens"],
                output_tokens=counts["output_tokens"],
                cached_tokens=counts["cached_tokens"],
                session_id=self.session,
                partial=True,
            )
        )

    def _result(self, message: dict[str, Any], said: Said) -> None:
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        counted = self._partial  # (the rest of the totals: what the responses did not say)
        cost = message.get("total_cost_usd")
        if isinstance(cost, int | float):  # (a running total over the session: this attempt's
            cost = max(0.0, float(cost) - self._launch.spent)  # share is what it added)
        self.session = str(message.get("session_id") or self.session)
        task, total = self._launch.task.id, _tokens(usage)
        said.events.append(
            ev.TaskUsage(
                0.0,
                task,
                self._launch.attempt,
                input_tokens=max(0, total["input_tokens"] - counted["input_tokens"]),
                output_tokens=max(0, total["output_tokens"] - counted["output_tokens"]),
                cached_tokens=max(0, total["cached_tokens"] - counted["cached_tokens"]),
                cost_usd=float(cost) if isinstance(cost, int | float) else 0.0,
                cost_source="reported" if isinstance(cost, int | float) else "",
                session_id=self.session,
                turns=integer(message.get("num_turns")),
            )
        )
        # (an API error ends `success` with is_error: its result is the error, the reason)
        subtype, failed = str(message.get("subtype", "")), bool(message.get("is_error"))
        ended = "error" if failed and subtype == "success" else subtype
        said.show.append(
            f"· {ended}: {integer(message.get('num_turns'))} turns, "
            f"{total['input_tokens']} in / {total['output_tokens']} out "
            f"tokens" + (f", ${float(cost):.4f}" if isinstance(cost, int | float) else "")
        )
        why = one_line(str(message.get("result") or ""))
        if failed and subtype == "success":
            said.failure = why or "the agent ended with an error"
        elif failed or subtype != "success":
            said.failure = f"the agent ended with {subtype or 'an error'}" + (
                f": {why}" if why else ""
            )
        said.close = True


def _tokens(usage: dict[str, Any]) -> dict[str, int]:
    """A response's (or the prompt's) tokens as every kind counts them: `input_tokens` all the
    input, `cached_tokens` the part of it read from the cache (as Codex counts). The API gives
    three parts that add up to the input: new, written to the cache, read from it."""
    cached = integer(usage.get("cache_read_input_tokens"))
    written = integer(usage.get("cache_creation_input_tokens"))
    return {
        "input_tokens": integer(usage.get("input_tokens")) + written + cached,
        "output_tokens": integer(usage.get("output_tokens")),
        "cached_tokens": cached,
    }


def _retry(message: dict[str, Any]) -> str:
    """The CLI retries a failed API request (it says so before each retry, and nothing else
    until the request succeeds or the retries run out): one line each, with the error."""
    why = one_line(str(message.get("error") or ""))[:SHOWN]
    status = message.get("error_status")
    why += f" (HTTP {status})" if isinstance(status, int) else ""
    attempt, most = integer(message.get("attempt")), integer(message.get("max_retries"))
    return f"· API error{': ' + why if why.strip() else ''}, retrying (attempt {attempt}" + (
        f" of {most})" if most else ")"
    )


def _assistant(message: dict[str, Any]) -> list[str]:
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    lines: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            lines += [f"  {line}" for line in str(block.get("text", "")).splitlines()]
        elif block.get("type") == "tool_use":
            tool_input = block.get("input") if isinstance(block.get("input"), dict) else {}
            assert isinstance(tool_input, dict)
            lines.append(
                f"→ {block.get('name', '?')}: {detail(str(block.get('name')), tool_input)}"
            )
            lines += _edit(tool_input)
    return lines


def _edit(tool_input: dict[str, Any]) -> list[str]:
    """An Edit's or a Write's change as diff lines (Claude Code sends the text, not a diff)."""
    path = str(tool_input.get("file_path") or "")
    old, new = tool_input.get("old_string"), tool_input.get("new_string")
    if path and isinstance(old, str) and isinstance(new, str):
        return diff_lines(os.path.basename(path), old, new)
    content = tool_input.get("content")
    if path and isinstance(content, str):
        return diff_lines(os.path.basename(path), "", content)
    return []


def _tool_results(message: dict[str, Any], hide: Callable[[str], str]) -> list[str]:
    """Each tool's output on one line, cut at SHOWN: after its secrets are taken out (`hide`:
    of its parts joined too, so a value split between two parts is found)."""
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    lines: list[str] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            text = block.get("content")
            if isinstance(text, list):
                text = hide("\n".join(str(x.get("text", "")) for x in text if isinstance(x, dict)))
            mark = "✗" if block.get("is_error") else "←"
            lines.append(f"{mark} {one_line(str(text or ''))[:SHOWN]}")
    return lines
