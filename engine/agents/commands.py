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
# what cannot be judged from the text: substitutions, ANSI-C quotes (which Python's shlex
# reads otherwise than the shell), more than one line, a line continued
_UNREADABLE = ("$(", "`", "<(", ">(", "$'", "\n", "\r", "\\\n")
_NULL = "/dev/null"  # where any redirection may point: nothing written or read
_DESCRIPTOR = re.compile(r"^(-|\d+)$")  # after `>&` or `<&`: a descriptor, or closing one
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_GLOB = re.compile(r"[*?\[]")
_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nice", "nohup", "time", "timeout"}
    | {"xargs", "stdbuf", "ionice", "chrt", "setsid", "unbuffer", "eval", "watch", "strace"}
)
# words that start a command of the shell's grammar: the command is what follows them
_RESERVED = frozenset({"!", "{", "}", "then", "do", "else", "elif", "if", "while", "until"})
_RESERVED |= {"coproc", "done", "fi"}
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
_SOURCES = frozenset({"source", "."})  # (they run a file's commands: none can be judged)
_SUBSTITUTED = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")  # (a nested one: opaque anyway)
_EXECS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})  # (find's: a command in its words)
_DEPTH = 4  # shells within shells a deny rule is looked for in


class Commands(msgspec.Struct, frozen=True):
    each: tuple[str, ...]  # the commands as written, their words joined by one space
    named: tuple[str, ...]  # each, and each as a deny rule reads it (see above)
    opaque: bool  # some of it cannot be judged from the text


def commands(tool_input: dict[str, Any]) -> Commands:
    """The commands of the shell command in `tool_input["command"]`."""
    return _commands(str(tool_input.get("command") or ""), _DEPTH)


def _commands(text: str, depth: int) -> Commands:
    opaque = any(mark in text for mark in _UNREADABLE)
    # (what runs inside a substitution, and each line, taken apart as commands of their own:
    # the whole stays opaque to allow rules, its parts are seen by deny rules)
    split = text.replace("\\\n", "")
    inner = [m.group(1) or m.group(2) or "" for m in _SUBSTITUTED.finditer(split)]
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
            dup = token in (">&", "<&") and _DESCRIPTOR.match(target)
            opaque = opaque or not (target == _NULL or dup)  # (`> 1` writes a file named 1)
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
            program = os.path.basename(bare[0])
            named += (" ".join(bare), " ".join([program, *bare[1:]]))
            opaque = opaque or bool(_GLOB.search(bare[0])) or program in _SOURCES
            ran = _ran_by(program, bare[1:])
            if ran is None:  # (a shell reading its commands from elsewhere: a pipe, a file)
                opaque = True
            elif ran:
                inner.append(ran)
    for text_inside in inner:  # what runs inside: seen by deny rules, never allowed unread
        opaque = True
        if depth > 0:
            found = _commands(text_inside, depth - 1)
            named += found.named
    return Commands(written, tuple(dict.fromkeys(n for n in named if n)), opaque)


def _ran_by(program: str, args: list[str]) -> str | None:
    """The commands a command runs in its words: a shell's `-c` script, find's `-exec`
    command; "" when it runs none; None for a shell that reads them from elsewhere."""
    if program in _SHELLS:
        if "-c" in args and args.index("-c") + 1 < len(args):
            return args[args.index("-c") + 1]
        return None
    if program == "find":
        at = next((i for i, a in enumerate(args) if a in _EXECS), None)
        if at is not None:
            return shlex.join(a for a in args[at + 1 :] if a not in (";", "+", "{}"))
    return ""


def _unwrapped(words: list[str]) -> list[list[str]]:
    """The commands a deny rule sees in `words`: past the shell's grammar before a command
    (`!`, `{`, `then`, `do`...) and the variables set for it; past a wrapper that runs another
    command, each place that command may start (a wrapper's options may take arguments:
    `sudo -u bob rm x`)."""
    i = 0
    while i < len(words) and (_ASSIGNMENT.match(words[i]) or words[i] in _RESERVED):
        i += 1
    if i < len(words) and os.path.basename(words[i]) in _WRAPPERS:
        return [words[i:], *(words[j:] for j in range(i + 1, len(words)))]
    return [words[i:]] if i < len(words) else []
