"""A shell command an agent asks to run, taken apart into the commands it runs, for the plan's
permission rules (engine/agents/talk.py: `ruling`): `git diff && touch x` is two commands, and a
rule that allows `git diff` does not allow the second.

What cannot be judged from the text is said so (`opaque`): a command substitution (`$(...)`,
backquotes), a process substitution, a subshell, a redirection into or from a file, more than one
line, quotes left open. No allow rule with a command allows such a command: a person is asked.

For deny rules the commands are also read as a deny rule means them: without the variables set
before a command (`A=1 rm x`), past the wrappers that run another command (`sudo -u bob rm x`,
`env rm x`, `xargs rm`: from each word after the wrapper), by the program's name (`/bin/rm x` as
`rm x`), and inside a substitution and on each line. An allow rule reads
each command as written: `PAGER=... git diff` is not `git diff`."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

import msgspec

_OPERATORS = frozenset({";", ";;", "&", "&&", "|", "||", "|&"})
_REDIRECTS = frozenset({">", ">>", "<", ">&", "&>", "&>>", ">|", "<>", "<&"})
_UNREADABLE = ("$(", "`", "<(", ">(", "\n", "\r")
_HARMLESS = re.compile(r"^(/dev/null|-|\d+)$")  # where a redirection may point: nothing read
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nice", "nohup", "time", "timeout"}
    | {"xargs", "stdbuf", "ionice", "chrt", "setsid", "unbuffer"}
)


class Commands(msgspec.Struct, frozen=True):
    each: tuple[str, ...]  # the commands as written, their words joined by one space
    named: tuple[str, ...]  # each, and each as a deny rule reads it (see above)
    opaque: bool  # some of it cannot be judged from the text


def commands(tool_input: dict[str, Any]) -> Commands:
    """The commands of the shell command in `tool_input["command"]`."""
    text = str(tool_input.get("command") or "")
    opaque = any(mark in text for mark in _UNREADABLE)
    # (what runs inside a substitution, and each line, taken apart as commands of their own:
    # the whole stays opaque to allow rules, its parts are seen by deny rules)
    split = text
    for mark in _UNREADABLE:
        split = split.replace(mark, " ; ")
    lexer = shlex.shlex(split, posix=True, punctuation_chars=";&|<>()")
    lexer.whitespace_split = True
    lexer.commenters = ""  # (a `#` inside a word is text; a comment runs nothing)
    try:
        tokens = list(lexer)
    except ValueError:  # (a quote left open)
        return Commands((), (text.strip(),), True)
    each: list[list[str]] = [[]]
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
        elif token in _OPERATORS:
            each.append([])
        elif token in _REDIRECTS:
            target = tokens[i + 1] if i + 1 < len(tokens) else ""
            opaque = opaque or not _HARMLESS.match(target)
            skip = True
            if each[-1] and each[-1][-1].isdigit():  # (`2>`: the descriptor's number)
                each[-1].pop()
        elif token in ("(", ")") or token.strip("<>&|;()") == "":
            opaque = True  # (a subshell, an operator this does not know)
        else:
            each[-1].append(token)
    written = tuple(" ".join(words) for words in each if words)
    named = list(written)
    for words in each:
        for bare in _unwrapped(words):
            named.append(" ".join(bare))
            named.append(" ".join([os.path.basename(bare[0]), *bare[1:]]))
    return Commands(written, tuple(dict.fromkeys(n for n in named if n)), opaque)


def _unwrapped(words: list[str]) -> list[list[str]]:
    """The commands a deny rule sees in `words`: past the variables set for it; past a wrapper
    that runs another command, each place that command may start (a wrapper's options may take
    arguments: `sudo -u bob rm x`)."""
    i = 0
    while i < len(words) and _ASSIGNMENT.match(words[i]):
        i += 1
    if i < len(words) and os.path.basename(words[i]) in _WRAPPERS:
        return [words[i:], *(words[j:] for j in range(i + 1, len(words)))]
    return [words[i:]] if i < len(words) else []
