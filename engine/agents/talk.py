"""What every coding agent's conversation shares, whatever its protocol (Claude Code's
stream-json, Codex's app-server, the Agent Client Protocol): what one line of the CLI's output
means for the engine (`Said`), a tool request a person answers (`Ask`), the plan's permission
rules, the transcript's one-line forms, and the attempt's secrets taken out of each raw block of
the agent's text (`hider`) before it is shaped into transcript lines.

Permission rules name tools as Claude Code does (`Bash`, `Edit`, `Read`, `Bash(git diff:*)`) for
every kind: another protocol's tool kinds are mapped onto those names (`TOOL_NAMES`), so one set
of rules covers a plan's agents; a rule may also name a kind's own tool name.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from phasegate.engine.agents.commands import Commands, commands
from phasegate.engine.model.secrets import Redactor
from phasegate.engine.plan.agents import RULE
from phasegate.engine.plan.template import substitute

if TYPE_CHECKING:
    from phasegate.engine.agents.base import Launch
    from phasegate.engine.model import events as ev
    from phasegate.engine.plan.model import Agent, Permissions

SHOWN = 300  # characters of a message or a tool's input kept on one transcript line


class Ask(msgspec.Struct):
    """A tool request a person answers (the plan's rules named it `ask`, or none named it)."""

    request: Any  # the CLI's request id (a JSON-RPC id may be a number)
    tool: str
    detail: str
    reason: str
    tool_input: dict[str, Any]

    def waiting(self) -> str:
        """Its transcript line while it waits for a person."""
        return f"? {self.tool}: {self.detail} (waits for a person)"


class Said(msgspec.Struct):
    """What one line of the CLI's output means for the engine."""

    show: list[str] = []  # transcript lines (the task's output)
    events: list[ev.Event] = []
    write: list[str] = []  # lines to send to the CLI
    asks: list[Ask] = []
    close: bool = False  # the prompt is done: end its input, the CLI exits
    failure: str = ""  # the CLI says the prompt failed


class Talk(Protocol):
    """One attempt's exchange with a coding agent's CLI, on its stdin and stdout."""

    session: str  # the agent's session (thread) id, once it has said it
    asked: int  # tool requests so far (their ids are numbered)

    def opening(self) -> list[str]:
        """The lines to send first (a handshake, the prompt)."""
        ...

    def read(self, stream: str, text: str) -> Said:
        """What one line the CLI printed means."""
        ...

    def answer(self, ask: Ask, allowed: bool, message: str) -> str:
        """The line that allows or denies a request a person (or a timeout) answered."""
        ...


# other protocols' names for a tool (Codex's items, ACP's tool kinds) -> the name rules use
TOOL_NAMES = {
    "commandExecution": "Bash",
    "fileChange": "Edit",
    "execute": "Bash",
    "edit": "Edit",
    "delete": "Edit",
    "move": "Edit",
    "read": "Read",
    "search": "Grep",
    "fetch": "WebFetch",
}


def ruling(
    rules: Permissions | None, tool: str, tool_input: dict[str, Any], native: str = ""
) -> tuple[str, str]:
    """allow, deny or ask, and the rule that says so: deny wins over allow, allow over ask; a
    request no rule names is asked. `native`: the tool's name in the agent's own protocol (when
    `tool` is its mapped name), which a rule may name too.

    A shell command is judged command by command (commands.py): a rule with a command
    (`Bash(git diff:*)`) denies a chain or pipe if it names any of its commands, and allows it
    only if allow rules name every one; a command that cannot be taken apart (`$(...)`, a
    subshell, a redirection into a file, more than one line) is allowed by no such rule."""
    if rules is None:
        return "ask", ""
    parts = commands(tool_input) if "command" in tool_input else None
    for verdict, listed in (("deny", rules.deny), ("allow", rules.allow), ("ask", rules.ask)):
        if verdict == "allow" and parts is not None:
            found = _every(listed, tool, native, parts)
            if found:
                return verdict, found
            continue
        for rule in listed:
            if _matches(rule, tool, tool_input, native, parts):
                return verdict, rule
    return "ask", ""


def _every(rules: list[str], tool: str, native: str, parts: Commands) -> str:
    """The allow rule that allows the shell command whose `parts` are given (the first of those
    that allow its commands), or "" when some command of it is allowed by none."""
    whole = next((r for r in rules if _named(r, tool, native) == ""), "")
    if whole:  # (the tool itself, whatever its command)
        return whole
    if parts.opaque or not parts.each:
        return ""
    used: list[str] = []
    for command in parts.each:
        rule = next((r for r in rules if _allows(_named(r, tool, native), command)), None)
        if rule is None:
            return ""
        used.append(rule)
    return used[0]


def _named(rule: str, tool: str, native: str) -> str | None:
    """The rule's argument when it names `tool` (or its native name): "" for the tool whole,
    None when it names another tool."""
    m = RULE.match(rule.strip())
    if m is None or m.group("tool") not in (tool, native or tool):
        return None
    return m.group("arg") or ""


def _allows(arg: str | None, command: str) -> bool:
    if not arg:
        return arg == ""
    if arg.endswith(":*"):
        return command == arg[:-2] or command.startswith(arg[:-2] + " ")
    return command == arg


def _matches(
    rule: str, tool: str, tool_input: dict[str, Any], native: str, parts: Commands | None
) -> bool:
    arg = _named(rule, tool, native)
    if arg is None:
        return False
    if arg == "":
        return True
    if parts is not None:  # (a deny or an ask: any command of the chain it names)
        return any(_allows(arg, c) for c in parts.named)
    return _allows(arg, str(tool_input.get("file_path") or ""))


def detail(tool: str, tool_input: dict[str, Any]) -> str:
    for key in ("command", "file_path", "path", "url", "pattern"):
        if key in tool_input:
            return one_line(str(tool_input[key]))[:SHOWN]
    return one_line(json.dumps(tool_input, sort_keys=True))[:SHOWN]


def one_line(text: str) -> str:
    return " ".join(text.split())


def hider(launch: Launch, agent: Agent | None = None) -> Redactor:
    """What takes the attempt's declared secrets (its agent's and its task's, as its environment
    gives them) out of each raw block of the agent's text (a tool's output, the model's text, a
    tool's input), whole, before the block is joined onto one line, indented or cut at SHOWN:
    the run's redactor sees only the lines made of it, where a value is cut or spread. Key
    shapes are left to the run's redactor (it knows the plan's names)."""
    names = (*(agent.secrets if agent is not None else ()), *launch.task.secrets)
    values = {name: launch.env[name] for name in names if launch.env.get(name)}
    return Redactor(values, shapes=False)


def integer(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


DIFF_LINES = 40  # of one file's diff in a transcript; the rest is counted


def diff_lines(path: str, old: str, new: str) -> list[str]:
    """A file change as transcript lines: a unified diff of `old` to `new`, indented, at most
    DIFF_LINES of it (a new file: every line added)."""
    import difflib  # (only a transcript with an edit pays for it)

    diff = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"a/{path}", f"b/{path}", n=1, lineterm=""
    )
    return patch_lines("\n".join(diff))


def patch_lines(patch: str) -> list[str]:
    """A unified diff (as an agent reports it) as indented transcript lines, at most DIFF_LINES."""
    lines = [line for line in patch.splitlines() if not line.startswith(("---", "+++"))]
    shown = [f"    {line}" for line in lines[:DIFF_LINES]]
    if len(lines) > DIFF_LINES:
        shown.append(f"    … {len(lines) - DIFF_LINES} more lines")
    return shown


def task_prompt(launch: Launch, values: dict[str, str]) -> str:
    """The task's prompt (its `prompt`, else `run`, with `{name}` values); an attempt that goes
    on with a session gets the reviewer's feedback (a gate's rejection) or the word that the
    last attempt failed first. The same for every kind."""
    task = launch.task
    text = substitute(task.prompt or task.run, values | {"task": task.id})
    if not launch.session:
        return text
    feedback = launch.env.get("PHASEGATE_FEEDBACK", "")
    if feedback:
        return f"The work was sent back by its reviewer: {feedback}\n\nThe task: {text}"
    return f"The last attempt did not succeed; try again.\n\nThe task: {text}"


def json_object(stream: str, text: str, said: Said) -> dict[str, Any] | None:
    """The JSON object one line of the CLI's stdout holds; a stderr line, or a line that is no
    JSON object, goes to the transcript as it is (None)."""
    message = None
    if stream == "out":
        try:
            message = json.loads(text)
        except ValueError:
            message = None
    if not isinstance(message, dict):
        said.show.append(text)
        return None
    return message
