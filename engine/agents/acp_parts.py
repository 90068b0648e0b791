"""What the Agent Client Protocol's messages hold, read for a transcript and the plan's rules: a
tool call's name, input and detail, a content's text, an error's text (engine/agents/acp)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from phasegate.engine.agents.talk import SHOWN, TOOL_NAMES, detail, one_line
from phasegate.engine.plan.agents import RULE

Json = dict[str, Any]

# a rule's tool (as Claude Code names it) -> Gemini CLI's tools; another name is Gemini's own
GEMINI_TOOLS = {
    "Bash": ("run_shell_command",),
    "Read": ("read_file", "read_many_files"),
    "Edit": ("replace", "write_file"),
    "Write": ("write_file",),
    "Grep": ("grep_search",),
    "Glob": ("glob",),
    "LS": ("list_directory",),
    "WebFetch": ("web_fetch",),
    "WebSearch": ("google_web_search",),
}
# (what runs a policy file Gemini CLI reads at its start: written to a fresh temporary
# directory, on the host the agent runs on, removed when the CLI ends)
POLICY_SH = (
    'd=$(mktemp -d) || exit 1; trap \'rm -rf "$d"\' EXIT; trap "exit 143" TERM; '
    'trap "exit 130" INT; trap "exit 129" HUP; printf "%s" "$1" > "$d/deny.toml" || exit 1; '
    'b=$2; shift 2; command -v "$b" >/dev/null 2>&1 || { echo "cannot run $b: not found" >&2; '
    'exit 127; }; "$b" --policy "$d/deny.toml" "$@"'
)


def gemini_policy(deny: list[str]) -> str:
    """The plan's `deny` rules as a Gemini CLI policy (TOML), so that the CLI never runs a
    denied call, not even one it would run without asking (`ls`, `echo`, read_file): a whole
    tool is taken out of its tools; `Bash(PREFIX:*)` and `Bash(COMMAND)` deny commands."""
    rules = []
    for text in deny:
        m = RULE.match(text.strip())
        if m is None:
            continue
        tools, arg = GEMINI_TOOLS.get(m.group("tool"), (m.group("tool"),)), m.group("arg")
        rule = [f"toolName = {_toml(tools[0] if len(tools) == 1 else list(tools))}"]
        if arg is not None:
            if "run_shell_command" not in tools:
                continue  # (a path rule: the calls the CLI asks about are judged by the engine)
            if arg.endswith(":*"):
                rule.append(f"commandPrefix = {_toml(arg[:-2])}")
            else:  # (the command as a whole: its JSON text, then the closing quote)
                # (as Gemini CLI writes it: JSON.stringify keeps non-ASCII as it is)
                written = json.dumps(arg, ensure_ascii=False)[1:]
                rule.append(f"commandRegex = {_toml(_js_escape(written))}")
        why = f"the plan's rule {text.strip()} denies it"
        rule += ['decision = "deny"', "priority = 900", f"denyMessage = {_toml(why)}"]
        rules.append("[[rule]]\n" + "\n".join(rule) + "\n")
    return "\n".join(rules)


def _toml(value: str | list[str]) -> str:
    return json.dumps(value, ensure_ascii=False)  # (a JSON string is a TOML basic string)


def _js_escape(text: str) -> str:
    return re.sub(r"[.*+?^${}()|[\]\\/]", lambda m: "\\" + m.group(0), text)


def tool_of(call: Json) -> tuple[str, str, Json, str]:
    """A tool call's name for the rules, its native name, its input as the rules read it, and
    its detail: the command, the paths, or the title."""
    kind, title = str(call.get("kind") or ""), one_line(str(call.get("title") or ""))
    raw = obj(call.get("rawInput"))
    ident = str(call.get("toolCallId") or "")
    native = ident.split("__", 1)[0] if "__" in ident else ""  # (Gemini: run_shell_command__…)
    tool = TOOL_NAMES.get(kind) or native or kind or "tool"
    paths = [str(p.get("path")) for p in dicts(call.get("locations")) if p.get("path")]
    if tool == "Bash":
        tool_input: Json = {"command": str(raw.get("command") or title)}
    elif paths:
        tool_input = {"file_path": paths[0]}
    else:
        tool_input = dict(raw) or {"title": title}
    shown = detail(tool, tool_input) if tool == "Bash" or not paths else ", ".join(paths)
    return tool, native, tool_input, shown[:SHOWN]


def content_text(content: Any, hide: Callable[[str], str]) -> str:
    """A tool call's content on one line, cut at SHOWN (its secrets taken out of its texts
    joined, before: a value split between two of them is found)."""
    texts = []
    for item in dicts(content):
        inner = item.get("content")
        if item.get("type") == "content" and isinstance(inner, dict) and "text" in inner:
            texts.append(str(inner["text"]))
        elif item.get("type") == "diff" and item.get("path"):
            texts.append(f"diff {item['path']}")
    return one_line(hide("\n".join(texts)))[:SHOWN]


def error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return one_line(str(error))[:SHOWN]
    data, message = error.get("data"), str(error.get("message") or "error")
    more = data.get("details") if isinstance(data, dict) else data
    inner = obj(obj(parse(message)).get("error"))  # (Gemini CLI: the API's error, as JSON)
    text = str(inner.get("message") or message) + (f": {more}" if more else "")
    return one_line(text)[:SHOWN]


def parse(text: str) -> Json | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def obj(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def request_key(request: Any) -> str:
    return json.dumps(request)
