"""Codex CLI as an agent, spoken to in its own protocol (docs/agents.md, "Codex"): `codex
app-server`, JSON-RPC with one JSON object a line on stdin and stdout. The thread runs with
approval policy `untrusted`, so that each command and each file change is asked of the engine
first: the plan's rules answer it, or a person does, like a gate.

The talk is a small state machine: `initialize`; on its answer `initialized` and `thread/start`
(or `thread/resume` of the earlier attempt's thread); on that answer `turn/start` with the
prompt; then the turn's items (the transcript), its approval requests, its token counts, and
`turn/completed`, which ends the attempt. Codex reports tokens, never a cost: an agent's `price:`
prices them.
"""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from phasegate.engine import __version__
from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.talk import (
    SHOWN,
    TOOL_NAMES,
    Ask,
    Said,
    hider,
    integer,
    json_object,
    one_line,
    patch_lines,
    ruling,
    task_prompt,
)
from phasegate.engine.exec.base import ProcSpec
from phasegate.engine.model import events as ev
from phasegate.engine.model.secrets import Redactor
from phasegate.engine.plan.model import Agent, Permissions, Price

INIT, THREAD, TURN = 1, 2, 3  # the ids of our requests
POLICY, SANDBOX = "untrusted", "workspace-write"  # (untrusted: every command is asked)
# an approval request -> the kind of item it is about (its name in Codex's protocol)
APPROVALS = {
    "item/commandExecution/requestApproval": "commandExecution",
    "item/fileChange/requestApproval": "fileChange",
    "execCommandApproval": "commandExecution",  # (the protocol's first version)
    "applyPatchApproval": "fileChange",
}
_SHELLS = ("bash", "sh", "zsh")


class CodexAdapter:
    def __init__(self, name: str, agent: Agent, values: dict[str, str]) -> None:
        self.name, self._agent, self._values = name, agent, values

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        agent = self._agent
        argv = [agent.binary or "codex", "app-server", *agent.args]
        env = {**launch.env, **agent.env}
        spec = ProcSpec(argv, env, launch.cwd, launch.task.keep_background, stdin=True)
        return spec, f"{argv[0]} (codex): {one_line(self.prompt(launch))[:120]}"

    def prompt(self, launch: Launch) -> str:
        """The task's prompt; a retry or a rework gets the feedback or the failure first."""
        return task_prompt(launch, self._values)

    def conversation(self, launch: Launch) -> CodexTalk:
        agent = self._agent
        prompt, hide = self.prompt(launch), hider(launch, agent)
        return CodexTalk(launch, prompt, agent.permissions, agent.price, agent.model, hide)


class CodexTalk:
    """One attempt's exchange with `codex app-server`. What it shows of a message is read from
    a copy with the attempt's secrets taken out of each text, whole (`hide`); what it answers
    and what the rules judge, from the message as Codex sent it."""

    def __init__(
        self,
        launch: Launch,
        prompt: str,
        rules: Permissions | None,
        price: Price | None = None,
        model: str | None = None,
        hide: Redactor | None = None,
    ) -> None:
        self._launch, self._prompt, self._rules = launch, prompt, rules
        self._hide = hide or hider(launch)
        self._price, self._model = price, model
        self.session = ""
        self.asked = 0
        self._turn = ""  # the turn our prompt started
        self._base: dict[str, int] | None = None  # the thread's totals before that turn
        self._totals: dict[str, int] = {}  # ... and as its last count said
        self._requests = 0  # model requests in the turn (counts that moved the totals)
        self._told: tuple[int, ...] = (0, 0, 0)  # the turn's tokens told so far (in, out, cached)
        self._items: dict[str, dict[str, Any]] = {}  # started items, by id
        self._methods: dict[str, str] = {}  # open approval requests: id -> method
        self._done = False

    def opening(self) -> list[str]:
        info = {"name": "phasegate", "title": "phasegate", "version": __version__}
        return [_request(INIT, "initialize", {"clientInfo": info})]

    def read(self, stream: str, text: str) -> Said:
        said = Said()
        message = json_object(stream, text, said)
        if message is None:
            return said
        method = message.get("method")
        raw = _obj(message.get("params"))
        params = self._hide.value(raw)  # (each text whole: a command's output, the model's)
        if isinstance(method, str) and "id" in message:
            self._request(message["id"], method, raw, params, said)
        elif isinstance(method, str):
            self._notification(method, raw, params, said)
        elif "id" in message:
            self._response(self._hide.value(message), said)
        return said

    def answer(self, ask: Ask, allowed: bool, message: str) -> str:
        """The approval's answer: accept or decline (Codex's second protocol takes no reason:
        the model reads that the user rejected it; the first one takes the reason)."""
        method = self._methods.pop(str(ask.request), "")
        if method in ("execCommandApproval", "applyPatchApproval"):
            decision: Any = (
                "approved" if allowed else {"denied": {"rejection": message or "denied"}}
            )
        else:
            decision = "accept" if allowed else "decline"
        return json.dumps({"id": ask.request, "result": {"decision": decision}})

    # -- what Codex says ---------------------------------------------------------------

    def _response(self, message: dict[str, Any], said: Said) -> None:
        rid, result, error = message.get("id"), message.get("result"), message.get("error")
        steps = {INIT: "initialize", THREAD: "the thread", TURN: "the prompt"}
        if not isinstance(rid, int) or rid not in steps:
            return  # (not an answer to us)
        if error is not None or not isinstance(result, dict):
            why = error.get("message") if isinstance(error, dict) else error
            said.failure = f"codex refused {steps[rid]}: {one_line(str(why))[:SHOWN]}"
            said.show.append(f"! {said.failure}")
            said.close = True
        elif rid == INIT:
            said.write.append(json.dumps({"method": "initialized"}))
            said.write.append(self._thread())
        elif rid == THREAD:
            self.session = str(_obj(result.get("thread")).get("id") or self.session)
            task, attempt = self._launch.task.id, self._launch.attempt
            said.events.append(ev.TaskUsage(0.0, task, attempt, session_id=self.session))
            said.show.append(f"· thread {self.session} · model {result.get('model', '?')}")
            item = {"type": "text", "text": self._prompt}
            params = {"threadId": self.session, "input": [item]}
            said.write.append(_request(TURN, "turn/start", params))
        elif rid == TURN:
            self._turn = str(_obj(result.get("turn")).get("id") or self._turn)

    def _thread(self) -> str:
        params: dict[str, Any] = {"cwd": self._launch.cwd, "approvalPolicy": POLICY}
        params["sandbox"] = SANDBOX
        if self._model:
            params["model"] = self._model
        if self._launch.session:  # a retry or a rework goes on with the agent's thread
            params |= {"threadId": self._launch.session, "excludeTurns": True}
            return _request(THREAD, "thread/resume", params)
        return _request(THREAD, "thread/start", params)

    def _notification(
        self, method: str, raw: dict[str, Any], params: dict[str, Any], said: Said
    ) -> None:
        item = params.get("item") if isinstance(params.get("item"), dict) else None
        if method == "turn/started" and not self._turn:
            self._turn = str(_obj(params.get("turn")).get("id") or "")
        elif method == "item/started" and item is not None:
            self._items[str(item.get("id"))] = _obj(raw.get("item"))  # (as sent: for the rules)
            said.show += _started(item, self._launch.cwd)
        elif method == "item/completed" and item is not None:
            said.show += _completed(item)
        elif method == "thread/tokenUsage/updated":
            self._count(params, said)
        elif method == "error":
            text = one_line(str(_obj(params.get("error")).get("message") or "an error"))[:SHOWN]
            retry = params.get("willRetry") is True
            said.show.append(f"! {text}" + (" (Codex retries)" if retry else ""))
            if not retry:
                said.failure = f"codex: {text}"
        elif method in ("warning", "deprecationNotice"):  # (configWarning: also on stderr)
            said.show.append(f"! {one_line(str(params.get('summary') or params))[:SHOWN]}")
        elif method == "turn/completed":
            self._completed(params, said)

    def _count(self, params: dict[str, Any], said: Said) -> None:
        """A running count of the thread's tokens: the turn's are what it added (a resumed
        thread first repeats the last count of an earlier turn; a repeated count adds 0). What
        it added since the last count is told at once (budgets are checked while it runs)."""
        usage = _obj(params.get("tokenUsage"))
        if not usage or str(params.get("turnId")) != self._turn:
            return
        total = _counts(_obj(usage.get("total")))
        if self._base is None:
            last = _counts(_obj(usage.get("last")))
            self._base = {k: max(0, total[k] - last[k]) for k in total}
        if total != self._totals:
            self._requests += 1
            self._totals = total
            said.events.append(self._usage(partial=True))

    def _usage(self, partial: bool) -> ev.TaskUsage:
        """The turn's tokens (and their price) not told yet."""
        base, totals = self._base or {}, self._totals
        used = {k: max(0, totals.get(k, 0) - base.get(k, 0)) for k in totals}
        tokens = used.get("input", 0), used.get("output", 0), used.get("cached", 0)
        told, self._told = self._told, tokens
        new = tuple(max(0, t - o) for t, o in zip(tokens, told, strict=True))
        cost = self._price.cost(*tokens) - self._price.cost(*told) if self._price else 0.0
        return ev.TaskUsage(
            0.0,
            self._launch.task.id,
            self._launch.attempt,
            input_tokens=new[0],
            output_tokens=new[1],
            cached_tokens=new[2],
            cost_usd=cost,
            cost_source="priced" if self._price else "",
            session_id=self.session,
            turns=0 if partial else self._requests,
            partial=partial,
        )

    def _completed(self, params: dict[str, Any], said: Said) -> None:
        turn = _obj(params.get("turn"))
        other = self._turn and turn.get("id") and str(turn.get("id")) != self._turn
        if self._done or other:  # (another turn's end: not ours)
            return
        self._done = True
        said.events.append(self._usage(partial=False))
        tokens, cost = self._told, self._price.cost(*self._told) if self._price else 0.0
        status = str(turn.get("status") or "?")
        said.show.append(
            f"· {status}: {self._requests} requests, {tokens[0]} in / {tokens[1]} out tokens"
            + (f", ${cost:.4f} (priced)" if self._price else "")
        )
        if status != "completed":
            why = _obj(turn.get("error")).get("message") or f"the turn ended {status}"
            why = one_line(str(why))[:SHOWN]
            said.failure = said.failure or f"codex: {why}"
        said.close = True

    def _request(
        self, rid: Any, method: str, raw: dict[str, Any], params: dict[str, Any], said: Said
    ) -> None:
        """An approval request: the rules judge its command as sent (`raw`); people see it
        without the attempt's secrets (`params`)."""
        native = APPROVALS.get(method)
        if native is None:  # (asking for input, an MCP tool...: nothing a task can answer)
            error = {"code": -32601, "message": f"phasegate does not answer {method}"}
            said.write.append(json.dumps({"id": rid, "error": error}))
            said.show.append(f"✗ {method}: not supported, refused")
            return
        tool, item = TOOL_NAMES[native], self._items.get(str(params.get("itemId")), {})
        if native == "commandExecution":
            command = _command(raw, item)
            tool_input: dict[str, Any] = {"command": command}
            shown = one_line(self._hide.text(command))[:SHOWN]
        else:
            changes = raw.get("fileChanges")  # (the first version names them)
            paths = (list(changes) if isinstance(changes, dict) else []) or _paths(item)
            tool_input = {"file_path": paths[0] if paths else ""}
            shown = ", ".join(_relative(p, self._launch.cwd) for p in paths)
            shown = self._hide.text(shown)[:SHOWN]
        ask = Ask(rid, tool, shown, one_line(str(params.get("reason") or "")), tool_input)
        self._methods[str(rid)] = method
        verdict, rule = ruling(self._rules, tool, tool_input, native=native)
        if verdict == "ask":
            said.asks.append(ask)
            said.show.append(ask.waiting())
            return
        allowed = verdict == "allow"
        why = f"the plan's rule {rule} {'allows' if allowed else 'denies'} it"
        said.write.append(self.answer(ask, allowed, why))
        said.show.append(f"{'✓' if allowed else '✗'} {tool}: {shown} ({why})")


def _command(params: dict[str, Any], item: dict[str, Any]) -> str:
    """The script an approval request is about (a list in the protocol's first version)."""
    command = params.get("command") or item.get("command")
    command = shlex.join(map(str, command)) if isinstance(command, list) else command
    return _unwrap(str(command or ""))


def _request(rid: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"id": rid, "method": method, "params": params})


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _counts(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "input": integer(usage.get("inputTokens")),
        "output": integer(usage.get("outputTokens")),
        "cached": integer(usage.get("cachedInputTokens")),
    }


def _unwrap(command: str) -> str:
    """The script of `/bin/bash -lc 'SCRIPT'` (how Codex runs a command): what rules match."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    if len(argv) == 3 and os.path.basename(argv[0]) in _SHELLS and argv[1] in ("-c", "-lc"):
        return argv[2]
    return command


def _paths(item: dict[str, Any]) -> list[str]:
    changes = item.get("changes")
    found = (
        [c.get("path") for c in changes if isinstance(c, dict)] if isinstance(changes, list) else []
    )
    return [str(p) for p in found if p]


def _relative(path: str, cwd: str) -> str:
    return os.path.relpath(path, cwd) if path.startswith(cwd.rstrip("/") + "/") else path


def _started(item: dict[str, Any], cwd: str) -> list[str]:
    kind = item.get("type")
    if kind == "commandExecution":
        command = _unwrap(str(item.get("command") or ""))
        return [f"→ Bash: {one_line(command)[:SHOWN]}"]
    if kind == "fileChange":
        paths = ", ".join(_relative(p, cwd) for p in _paths(item))
        changes = item.get("changes")
        diffs = [
            line
            for change in (changes if isinstance(changes, list) else [])
            if isinstance(change, dict) and isinstance(change.get("diff"), str)
            for line in patch_lines(change["diff"])
        ]
        return [f"→ Edit: {paths[:SHOWN]}", *diffs]
    if kind == "mcpToolCall":
        return [f"→ {item.get('server', '?')}.{item.get('tool', '?')}"]
    if kind == "webSearch":
        return [f"→ WebSearch: {one_line(str(item.get('query') or ''))[:SHOWN]}"]
    return []


def _completed(item: dict[str, Any]) -> list[str]:
    kind, status = item.get("type"), str(item.get("status") or "")
    if kind == "agentMessage":
        return [f"  {line}" for line in str(item.get("text") or "").splitlines()]
    if status in ("declined", "failed") and kind in ("commandExecution", "fileChange"):
        return [f"✗ {status}"]
    if kind == "commandExecution":
        lines = [ln for ln in str(item.get("aggregatedOutput") or "").splitlines() if ln.strip()]
        first = f": {one_line(lines[0])[:SHOWN]}" if lines else ""
        return [f"← exit {item.get('exitCode')}{first}"]
    if kind == "fileChange":
        return [f"← {status or 'done'}"]
    return []
