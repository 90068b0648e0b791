"""Any agent that speaks the Agent Client Protocol (`kind: acp`: JSON-RPC 2.0, one message a
line on its stdin and stdout), and Gemini CLI through it (`kind: gemini`: `gemini --acp`).

The engine is the ACP client: `initialize`, `authenticate` when the agent offers a method the
adapter knows, `session/new` (or `session/load` of the earlier attempt's session, when the agent
can), then one `session/prompt`. The agent's `session/update` notifications become the
transcript; its `session/request_permission` requests are answered by the plan's rules or a
person (the option of kind allow_once or reject_once); any other request (files, terminals: the
client offers none) gets a "not supported" error. The prompt's response ends the attempt, with
the tokens the agent reports (ACP reports no cost: the agent's `price` gives one).
"""

from __future__ import annotations

import json
import os
from typing import Any

from phasegate.engine.agents.acp_parts import (
    POLICY_SH,
    Json,
    content_text,
    dicts,
    error_text,
    gemini_policy,
    obj,
    parse,
    request_key,
    tool_of,
)
from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.talk import (
    SHOWN,
    Ask,
    Said,
    diff_lines,
    hider,
    integer,
    one_line,
    ruling,
    task_prompt,
)
from phasegate.engine.exec.base import ProcSpec
from phasegate.engine.model import events as ev
from phasegate.engine.model.secrets import LineWindow, Redactor
from phasegate.engine.plan.model import Agent

KNOWN_AUTH = {"gemini-api-key": "GEMINI_API_KEY"}  # auth method -> the variable it needs
NOT_SUPPORTED = -32601  # JSON-RPC: method not found


class AcpAdapter:
    kind = "acp"
    binary = ""  # (kind acp: the plan must name it)
    args: tuple[str, ...] = ()
    replay_until = ""  # the update that ends a loaded session's replay (default: its response)

    def __init__(self, name: str, agent: Agent, values: dict[str, str]) -> None:
        self.name, self._agent, self._values = name, agent, values

    def argv(self) -> list[str]:
        return [self._agent.binary or self.binary, *self.args, *self._agent.args]

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        argv = self.argv()
        env = {**launch.env, **self._agent.env}
        spec = ProcSpec(argv, env, launch.cwd, launch.task.keep_background, stdin=True)
        return spec, f"{argv[0]} ({self.kind}): {one_line(self.prompt(launch))[:120]}"

    def prompt(self, launch: Launch) -> str:
        """The task's prompt, with a reviewer's feedback on a rework (as for Claude Code)."""
        return task_prompt(launch, self._values)

    def conversation(self, launch: Launch) -> AcpTalk:
        env = {**launch.env, **self._agent.env}
        auth = [method for method, var in KNOWN_AUTH.items() if env.get(var)]
        hide = hider(launch, self._agent)
        return AcpTalk(launch, self.prompt(launch), self._agent, auth, self.replay_until, hide)


class GeminiAdapter(AcpAdapter):
    """Gemini CLI: `gemini --acp` (0.61.0 needs no `--skip-trust` in ACP mode)."""

    kind = "gemini"
    binary = "gemini"
    args = ("--acp",)
    replay_until = "available_commands_update"  # (it replays after answering session/load)

    def argv(self) -> list[str]:
        model = ["--model", self._agent.model] if self._agent.model else []
        argv = [self._agent.binary or self.binary, *self.args, *model, *self._agent.args]
        rules = self._agent.permissions
        policy = gemini_policy(rules.deny) if rules is not None else ""
        if not policy:
            return argv
        # the plan's deny rules as its own policy: it runs some calls without asking (`ls`)
        return ["sh", "-c", POLICY_SH, "sh", policy, *argv]

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        spec, shown = super().spec(launch)
        binary = self._agent.binary or self.binary  # (not the `sh` that gives it its policy)
        return spec, binary + shown[len(spec.argv[0]) :]


class AcpTalk:
    """One attempt's exchange with an ACP agent: a small state machine driven by responses.
    What it shows of a message is read from a copy with the attempt's secrets taken out of each
    text, whole (`hide`; the agent's message, streamed in chunks, line by line as the run's
    output is); what it answers and what the rules judge, from the message as sent."""

    def __init__(
        self,
        launch: Launch,
        prompt: str,
        agent: Agent,
        auth: list[str],
        replay_until: str = "",
        hide: Redactor | None = None,
    ) -> None:
        self._launch, self._prompt, self._agent = launch, prompt, agent
        self._auth, self._replay_until = auth, replay_until
        self._hide = hide or hider(launch)
        self._lines = LineWindow(self._hide) if self._hide.secrets else None
        self.session = ""
        self.asked = 0
        self._ids = 0
        self._pending: dict[int, str] = {}  # our request id -> its method
        self._options: dict[str, list[Json]] = {}  # a permission request's id -> its options
        self._calls: dict[str, str] = {}  # toolCallId -> "Tool: detail"
        self._load = False  # the agent can load a session
        self._replaying = False  # a loaded session's history is being replayed
        self._replayed = 0
        self._text = ""  # the agent's message so far (chunks, not yet a whole line)

    def opening(self) -> list[str]:
        fs = {"readTextFile": False, "writeTextFile": False}  # (and no terminal)
        client = {"fs": fs, "terminal": False}
        return [self._request("initialize", {"protocolVersion": 1, "clientCapabilities": client})]

    def read(self, stream: str, text: str) -> Said:
        said = Said()
        raw = parse(text) if stream == "out" else None
        if raw is None:
            if text.strip():
                said.show.append(self._hide.text(text)[: SHOWN * 4])
            return said
        message = self._hide.value(raw)  # (each text whole: a tool's output, the model's)
        method, mid = message.get("method"), raw.get("id")
        if isinstance(method, str) and mid is not None:
            self._agent_request(method, mid, raw.get("params"), message.get("params"), said)
        elif isinstance(method, str):
            if method == "session/update" and isinstance(message.get("params"), dict):
                self._update(message["params"].get("update"), said)
        elif isinstance(mid, int) and mid in self._pending:
            self._response(self._pending.pop(mid), message, said)
        return said

    def answer(self, ask: Ask, allowed: bool, message: str) -> str:
        """The response to session/request_permission: the option that allows once (or
        rejects), else cancelled. (ACP carries no message: the agent's model reads that the
        user cancelled.)"""
        options = self._options.pop(request_key(ask.request), [])
        kinds = ("allow_once",) if allowed else ("reject_once", "reject_always")
        chosen = next((o for k in kinds for o in options if o.get("kind") == k), None)
        outcome: Json = {"outcome": "cancelled"}
        if chosen is not None and "optionId" in chosen:
            outcome = {"outcome": "selected", "optionId": chosen["optionId"]}
        return json.dumps({"jsonrpc": "2.0", "id": ask.request, "result": {"outcome": outcome}})

    # -- our requests and the agent's responses --------------------------------------------

    def _request(self, method: str, params: Json) -> str:
        self._ids += 1
        self._pending[self._ids] = method
        return json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})

    def _response(self, method: str, message: Json, said: Said) -> None:
        error, result = message.get("error"), message.get("result")
        result = result if isinstance(result, dict) else {}
        if error is not None:
            why = error_text(error)
            if method == "session/load":  # (its session is gone: start a new one)
                said.show.append(f"· the agent could not load session {self.session}: {why}")
                self._replaying = False
                said.write.append(self._new_session())
                return
            said.show += [*self._flush(), f"✗ {method}: {why}"]
            said.failure = f"the agent answered {method} with an error: {why}"
            said.close = True
        elif method == "initialize":
            caps = result.get("agentCapabilities")
            self._load = isinstance(caps, dict) and caps.get("loadSession") is True
            offered = {str(m.get("id")) for m in dicts(result.get("authMethods"))}
            info = obj(result.get("agentInfo"))
            name = info.get("title") or info.get("name") or "the agent"
            said.show.append(f"· {name} {info.get('version', '')}".rstrip())
            method_id = next((m for m in self._auth if m in offered), None)
            if method_id is not None:
                said.write.append(self._request("authenticate", {"methodId": method_id}))
            else:
                said.write.append(self._open_session())
        elif method == "authenticate":
            said.write.append(self._open_session())
        elif method in ("session/new", "session/load"):
            session = str(result.get("sessionId") or self.session)
            if session:
                self.session = session
                task, attempt = self._launch.task.id, self._launch.attempt
                said.events.append(ev.TaskUsage(0.0, task, attempt, session_id=session))
            verb = "loaded" if method == "session/load" else "new"
            said.show.append(f"· session {self.session} ({verb})")
            self._replaying = method == "session/load" and bool(self._replay_until)
            prompt = [{"type": "text", "text": self._opening_prompt(method)}]
            said.write.append(
                self._request("session/prompt", {"sessionId": self.session, "prompt": prompt})
            )
        elif method == "session/prompt":
            self._ended(result, said)

    def _opening_prompt(self, method: str) -> str:
        """The prompt; in a new session where the earlier attempt's could not go on, with the
        last lines of that attempt's transcript first."""
        history = self._launch.history
        if method != "session/new" or not self._launch.session or not history:
            return self._prompt
        said = "\n".join(history)
        return (
            "An earlier attempt at this task ended; its session could not be continued. "
            f"The last lines of its transcript:\n{said}\n\n{self._prompt}"
        )

    def _open_session(self) -> str:
        if self._launch.session and self._load:
            self.session = self._launch.session
            self._replaying = True  # (until its response, or the agent's own end of it)
            return self._request("session/load", {"sessionId": self.session, **self._where()})
        return self._new_session()

    def _new_session(self) -> str:
        return self._request("session/new", self._where())

    def _where(self) -> Json:
        return {"cwd": self._launch.cwd, "mcpServers": []}

    def _ended(self, result: Json, said: Said) -> None:
        """The prompt's response: its stop reason, and the tokens of the whole prompt (ACP's
        `usage`, or Gemini CLI's `_meta.quota.token_count`)."""
        said.show += self._flush()
        usage = obj(result.get("usage"))
        count = obj(obj(obj(result.get("_meta")).get("quota")).get("token_count"))
        if usage:
            keys = ("inputTokens", "outputTokens", "cachedReadTokens")
        else:
            usage, keys = count, ("input_tokens", "output_tokens", "cached_tokens")
        tokens = [integer(usage.get(k)) for k in keys]
        price = self._agent.price if usage else None
        cost = price.cost(*tokens) if price is not None else 0.0
        task, attempt = self._launch.task.id, self._launch.attempt
        said.events.append(  # (one turn a prompt: ACP does not say how many model requests)
            ev.TaskUsage(
                0.0, task, attempt, input_tokens=tokens[0], output_tokens=tokens[1],
                cached_tokens=tokens[2], cost_usd=cost,
                cost_source="priced" if price is not None else "", session_id=self.session,
                turns=1,
            )
        )  # fmt: skip
        stop = str(result.get("stopReason") or "?")
        priced = f", ${cost:.4f} (priced)" if price is not None else ""
        said.show.append(f"· {stop}: {tokens[0]} in / {tokens[1]} out tokens{priced}")
        if stop != "end_turn":  # refusal, cancelled, max_tokens, max_turn_requests
            said.failure = f"the agent stopped the prompt: {stop}"
        said.close = True

    # -- what the agent sends on its own -----------------------------------------------------

    def _agent_request(self, method: str, mid: Any, raw: Any, params: Any, said: Said) -> None:
        if method == "session/request_permission" and isinstance(raw, dict):
            self._permission(mid, raw, obj(params), said)
            return
        said.show.append(f"· the agent asked for {method}: not supported")
        error = {"code": NOT_SUPPORTED, "message": f"not supported: {method}"}
        said.write.append(json.dumps({"jsonrpc": "2.0", "id": mid, "error": error}))

    def _permission(self, mid: Any, raw: Json, params: Json, said: Said) -> None:
        """A tool request: the rules judge its input as sent (`raw`); people see it without
        the attempt's secrets (`params`)."""
        said.show += self._flush()
        self._replaying = False  # (the live prompt is under way)
        call = obj(params.get("toolCall"))
        tool, native, tool_input, _ = tool_of(obj(raw.get("toolCall")))
        shown = tool_of(call)[3]
        text = content_text(call.get("content"), self._hide.text)
        ask = Ask(mid, tool, shown, text or one_line(str(call.get("title") or "")), tool_input)
        self._options[request_key(mid)] = dicts(raw.get("options"))
        self._calls[str(call.get("toolCallId"))] = f"{tool}: {shown}"
        verdict, rule = ruling(self._agent.permissions, tool, tool_input, native=native)
        if verdict == "ask":
            said.asks.append(ask)
            said.show.append(ask.waiting())
            return
        allowed = verdict == "allow"
        why = f"the plan's rule {rule} {'allows' if allowed else 'denies'} it"
        said.write.append(self.answer(ask, allowed, why))
        said.show.append(f"{'✓' if allowed else '✗'} {tool}: {shown} ({why})")

    def _update(self, update: Any, said: Said) -> None:
        if not isinstance(update, dict):
            return
        kind = update.get("sessionUpdate")
        if self._replaying:
            if kind == self._replay_until:
                self._replaying = False
                said.show.append(f"· the agent replayed {self._replayed} updates of its session")
            else:
                self._replayed += 1
            return
        if kind == "agent_message_chunk":
            content = update.get("content")
            if isinstance(content, dict) and content.get("type") == "text":
                self._text += str(content.get("text", ""))
                *whole, self._text = self._text.split("\n")
                said.show += [f"  {line}" for line in self._held(whole)]
            return
        said.show += self._flush()
        if kind in ("tool_call", "tool_call_update"):
            said.show += self._tool_update(kind, update)
        elif kind == "plan":
            marks = {"completed": "✓", "in_progress": "…"}
            entries = [
                f"{marks.get(str(e.get('status')), '·')} {one_line(str(e.get('content', '')))}"
                for e in dicts(update.get("entries"))
            ]
            said.show.append(f"· plan: {'; '.join(entries)}"[:SHOWN])

    def _tool_update(self, kind: str, update: Json) -> list[str]:
        key = str(update.get("toolCallId"))
        if kind == "tool_call" or key not in self._calls:
            tool, _, _, shown = tool_of(update)
            self._calls[key] = f"{tool}: {shown}"
        lines = [f"→ {self._calls[key]}"] if kind == "tool_call" else []
        lines += [
            line
            for item in dicts(update.get("content"))
            if item.get("type") == "diff" and item.get("path")
            for line in diff_lines(
                os.path.basename(str(item["path"])),
                str(item.get("oldText") or ""),
                str(item.get("newText") or ""),
            )
        ]
        status = update.get("status")
        if status in ("completed", "failed"):
            out = content_text(update.get("content"), self._hide.text)
            mark = "←" if status == "completed" else "✗"
            said = self._calls[key].removesuffix(": ")  # (a call the CLI denied: no input)
            lines.append(f"{mark} {said}" + (f" · {out}" if out else ""))
        return [line[: SHOWN + 20] for line in lines]  # (diff lines cut alike)

    def _held(self, lines: list[str]) -> list[str]:
        """The agent's message lines that may be shown: held while a secret may run on into
        the next (a value split over lines, or over chunks)."""
        if self._lines is None:
            return lines
        return [line for whole in lines for line in self._lines.push(whole)]

    def _flush(self) -> list[str]:
        """The agent's unfinished line and the lines held, once something else is said (or
        the prompt ends)."""
        text, self._text = self._text, ""
        lines = self._held([text]) if text.strip() else []
        lines += self._lines.flush() if self._lines is not None else []
        return [f"  {line}" for line in lines]
