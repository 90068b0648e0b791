"""Plan text to Python data: libyaml's parser (fast), keys written twice noted, safe limits.

Hostile text (alias bombs, control characters, huge or deeply nested input) becomes a problem,
never a hang or a traceback. Lines come from re-composing the YAML with marks (`Lines`), done
only when there are problems to place. Reading the file and validating the data: plan.load.
"""

from __future__ import annotations

from typing import Any

import yaml

from phasegate.engine.model.errors import Problem
from phasegate.engine.plan.messages import escaped, shown

# A cheap upper estimate of the YAML nodes a text can hold (see `_node_estimate`). Composing and
# constructing take a few microseconds a node, twice over when problems are placed on lines, so
# this keeps the worst input to seconds; a 10,000-task plan estimates about 200,000.
MAX_NODES = 500_000
# with aliases expanded, as the model and the checks see the data: a shared `env:` mapping is
# fine, a billion laughs is not
MAX_EXPANDED_NODES = 1_000_000

_CBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Loader: Any = _CBase  # composing with marks (Lines) needs nothing more than the base loader
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`phases[0].tasks[1].run`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _PlanLoader(_CBase):  # type: ignore[misc]
    """libyaml's parser with PyYAML's safe constructor, noting keys written twice in a mapping.

    YAML keeps the last of two equal keys without a word; a plan that says `run:` twice, or
    defines an agent twice, is a mistake to report. The check is one set per mapping.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # (mapping node, the repeated key node, the first key node)
        self.duplicates: list[tuple[yaml.MappingNode, yaml.Node, yaml.Node]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        pairs = node.value
        if len(pairs) > 1:
            keys = [k.value for k, _ in pairs if isinstance(k, yaml.ScalarNode)]
            if len(set(keys)) != len(keys):
                self._note_duplicates(node)
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """`2024-13-45` looks like a date to YAML; say where, not just `month must be in 1..12`."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{node.value!r} looks like a date but is not one ({exc})",
                node.start_mark,
            ) from None

    def _note_duplicates(self, node: yaml.MappingNode) -> None:
        first: dict[tuple[str, str], yaml.Node] = {}
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE_TAG:
                continue
            seen = first.setdefault((k.tag, k.value), k)
            if seen is not k:
                self.duplicates.append((node, k, seen))


_PlanLoader.add_constructor("tag:yaml.org,2002:timestamp", _PlanLoader.construct_yaml_timestamp)


class Lines:
    """Maps a key path to the line it is written on, composing the YAML with marks on first use."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._root: yaml.Node | None = None
        self._composed = False
        self.count = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))

    def clamp(self, line: int | None) -> int | None:
        """A line that exists in the file (libyaml marks the end of input one line past it)."""
        return None if line is None else max(1, min(line, self.count))

    def _node(self) -> yaml.Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self._text, Loader=_Loader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def line(self, path: Path, key: bool = False, needle: str = "") -> int | None:
        """The 1-based line of the value at `path` (of its key when `key` is true).

        Where the path leaves the file (a missing key), the line of the nearest enclosing node.
        With a `needle`, the line where that text is written inside a multi-line value.
        """
        node = self._node()
        if node is None:
            return None
        line = node.start_mark.line + 1
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                found = _lookup(node, part)
                if found is None:
                    return self.clamp(line)
                k, node = found
                line = (k if (last and key) else node).start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return self.clamp(line)
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return self.clamp(line)
        if needle and isinstance(node, yaml.ScalarNode) and not key:
            start, end = node.start_mark.index, node.end_mark.index
            at = self._text.find(needle, start, end)
            if at >= 0:  # written as is (not escaped): its own line
                line = self._text.count("\n", 0, at) + 1
        return self.clamp(line)

    def dotted(self, path: Path) -> str:
        """The path as written in messages: `phases[0].tasks[1].run`, keys as written in the file
        (`on`, not True), a number in brackets only where it indexes a list."""
        node = self._node()
        out = ""
        for part in path:
            if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part] if 0 <= part < len(node.value) else None
                out += f"[{part}]"
                continue
            text = str(part)
            if isinstance(node, yaml.MappingNode):
                found = _lookup(node, part)
                if found is not None and isinstance(found[0], yaml.ScalarNode):
                    text = found[0].value
                node = found[1] if found else None
            elif isinstance(part, int):  # past the file: by the model, a number is an index
                out += f"[{part}]"
                continue
            text = escaped(text)  # (a key's control characters neither act nor hide)
            out += f".{text}" if out else text
        return out

    def path_to(self, target: yaml.Node) -> Path | None:
        """The key path of the node written at `target`'s position (found by its start mark)."""
        root = self._node()
        if root is None:
            return None
        want = target.start_mark.index
        stack: list[tuple[yaml.Node, Path]] = [(root, ())]
        seen: set[int] = set()
        while stack:
            node, path = stack.pop()
            if node.start_mark.index == want and type(node) is type(target):
                return path
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode):
                        stack.append((v, (*path, k.value)))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((v, (*path, i)) for i, v in enumerate(node.value))
        return None


def _same_key(node: yaml.ScalarNode, key: object) -> bool:
    if node.tag == _STR_TAG or isinstance(key, str):
        return bool(node.value == str(key))
    try:  # `on:` is the key True, `1:` the key 1: compare what YAML makes of it
        return bool(yaml.safe_load(node.value) == key)
    except yaml.YAMLError:
        return False


def _lookup(mapping: yaml.MappingNode, name: object) -> tuple[yaml.Node, yaml.Node] | None:
    """The key and value nodes of `name` in a mapping, following `<<` merge keys as YAML does."""
    merges: list[yaml.Node] = []
    for k, v in reversed(mapping.value):  # the last of repeated keys is the one kept
        if isinstance(k, yaml.ScalarNode):
            if k.tag == _MERGE_TAG:
                merges.append(v)
            elif _same_key(k, name):
                return k, v
    for merged in merges:
        sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                found = _lookup(source, name)
                if found is not None:
                    return found
    return None


def _node_estimate(text: str) -> int:
    """An upper estimate of the YAML nodes in `text`, counted in C (no parsing).

    Every node follows a line break, a `:`, a `,` (two nodes after one in `{a, b}`), a `- `, a
    `? ` or an opening bracket; a plan's text estimates about 1.2 times its real count.
    """
    return (
        text.count("\n")
        + 2 * text.count(",")
        + text.count(":")
        + text.count("- ")
        + text.count("? ")
        + text.count("[")
        + text.count("{")
    )


def _expanded_size(root: object, limit: int) -> int:
    """Nodes the data would have with every alias expanded (counted without expanding)."""
    memo: dict[int, int] = {}
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        obj, done = stack.pop()
        if not isinstance(obj, dict | list):
            continue
        key = id(obj)
        if key in memo:
            continue
        children = list(obj.values()) if isinstance(obj, dict) else obj
        if done:
            total = 1
            for c in children:
                total += memo.get(id(c), 1) if isinstance(c, dict | list) else 1
                if total > limit:
                    return total
            memo[key] = total
        else:
            stack.append((obj, True))
            stack.extend((c, False) for c in children if isinstance(c, dict | list))
    return memo.get(id(root), 1)


def _syntax_message(exc: yaml.MarkedYAMLError, text: str) -> str:
    """libyaml's words, with what to do for the mistakes people make."""
    problem = (exc.problem or str(exc)).strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    char = text[mark.index] if mark is not None and 0 <= mark.index < len(text) else ""
    opened = f" (opened on line {exc.context_mark.line + 1})" if exc.context_mark else ""
    if "could not determine a constructor for the tag" in problem:
        tag = problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        return (
            f"YAML tag {tag!r} is not allowed; a plan is plain YAML "
            "(text, numbers, lists, mappings): remove the tag"
        )
    if (problem == "found character that cannot start any token" and char == "\t") or (
        "tab character that violates indentation" in problem
    ):
        return (
            "YAML syntax error: a tab character; indent with spaces, YAML does not allow tabs "
            "in indentation"
        )
    if problem == "found character that cannot start any token" and char in "@`":
        return f"YAML syntax error: {char!r} cannot start a plain value; quote the value"
    if problem == "mapping values are not allowed in this context":
        return (
            "YAML syntax error: a ': ' inside a plain value; quote the value "
            '(e.g. run: "echo a: b") or fix the indentation'
        )
    if problem == "found undefined alias":
        return "YAML syntax error: an alias (*name) with no anchor (&name) before it; define it"
    if problem == "but found another document":
        return "more than one YAML document (a second ---); a plan is a single document"
    if "looks like a date" in problem:
        return f"YAML {problem}; quote it to mean text, or write a real date"
    if problem == "found unhashable key":
        return "YAML key is a list or a mapping; keys must be plain text"
    if problem.startswith("found unexpected end of stream") and "quoted scalar" in context:
        return f"YAML syntax error: a quoted value is not closed{opened}; close the quote"
    if char == "{" and ("flow sequence" in context or "flow mapping" in context):
        return (
            "YAML syntax error: '{' inside a [ ] list or a { } mapping; "
            'quote the value, e.g. ["dist/{name}.tar"]'
        )
    if "flow sequence" in context or "flow mapping" in context:
        kind = "[ list" if "sequence" in context else "{ mapping"
        return (
            f"YAML syntax error: {problem}: a {kind}{opened} is not closed or lacks a comma; "
            "close it or add the comma"
        )
    started = f" that starts on line {exc.context_mark.line + 1}" if exc.context_mark else ""
    where = f", {context}{started}" if context else ""
    if "block" in context:
        return (
            f"YAML syntax error: {problem}{where}; "
            "check the indentation of this line and the ones above"
        )
    return f"YAML syntax error: {problem}{where}; fix the YAML syntax"


class Parsed:
    """The data of a plan's text, or the problems that stopped it."""

    def __init__(
        self,
        data: dict[str, Any] | None,
        problems: list[Problem],
        duplicates: list[tuple[yaml.MappingNode, yaml.Node, yaml.Node]] | None = None,
    ) -> None:
        self.data = data
        self.problems = problems
        self.duplicates = duplicates or []


def parse(text: str, file: str, lines: Lines) -> Parsed:
    def fail(line: int | None, message: str, key: str = "") -> Parsed:
        return Parsed(None, [Problem(file, lines.clamp(line), key, message)])

    estimate = _node_estimate(text)
    if estimate > MAX_NODES:
        return fail(
            None,
            f"too much YAML structure (about {estimate:,} values; at most {MAX_NODES:,}); "
            "split the work into several plans",
        )
    loader = _PlanLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and "quoted scalar" in (exc.context or ""):
            mark = exc.context_mark  # an unclosed quote: where it opens, not the end of the file
        return fail(mark.line + 1 if mark else None, _syntax_message(exc, text))
    except yaml.reader.ReaderError as exc:
        # libyaml counts the position in bytes, PyYAML in characters: find the character instead
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        at = text.find(char)
        line = text.count("\n", 0, at) + 1 if at >= 0 else None
        code = f"U+{ord(char[:1] or ' '):04X}"
        return fail(line, f"control character {code} is not allowed in YAML; remove it")
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return fail(None, f"YAML cannot be read: {first}; fix the YAML syntax")
    finally:
        loader.dispose()
    if data is None:
        return fail(1, "the plan is empty; a plan needs at least `name:`, `agents:` and `phases:`")
    if not isinstance(data, dict):
        return fail(
            lines.line(()),
            f"a plan must be a mapping of keys, got {shown(data)}; "
            "start with `name:`, `agents:` and `phases:`",
        )
    if "*" in text and _expanded_size(data, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
        where = _bomb_key(data)
        return fail(
            lines.line((where,), key=True) if where is not None else None,
            f"YAML aliases expand past {MAX_EXPANDED_NODES:,} values (an alias bomb?); "
            "write the plan out without repeating aliases",
            str(where) if where is not None else "",
        )
    return Parsed(data, [], loader.duplicates)


def _bomb_key(data: dict[Any, Any]) -> Any:
    """The first top-level key whose value alone expands past the limit, else the biggest."""
    sizes = {k: _expanded_size(v, MAX_EXPANDED_NODES) for k, v in data.items()}
    over = [k for k, size in sizes.items() if size > MAX_EXPANDED_NODES]
    return over[0] if over else max(sizes, key=lambda k: sizes[k], default=None)
