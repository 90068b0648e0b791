"""The lines an amendment's approvers read (engine/plan/amend.py's changes): one a change, an
added part's settings beside it, a command whole on lines of its own, values as a plan writes
them (YAML's flow style, never a Python repr)."""

from __future__ import annotations

from typing import Any

Change = dict[str, Any]  # (engine/plan/amend.py's)

TEXT = ("run", "prompt", "command", "ready", "notify")
_CUT, _TEXT_CUT, _TEXT_LINES = 60, 200, 20


def change_lines(changes: list[Change]) -> list[str]:
    """One line a change, as `amend`, the change gate and the reports print them; an added
    part's settings beside it, its command (or a command changed) on lines of their own."""
    lines = []
    for c in changes:
        where = f" (phase {c['phase']})" if c.get("phase") else ""
        head = f"{c['what']} {c['id']}" if c["what"] not in (c["id"], "plan") else c["what"]
        if c["change"] == "removed":
            lines.append(f"- {head} removed{where}")
        elif c["change"] == "added":
            said = dict(c.get("settings") or {})
            text = {k: said.pop(k) for k in TEXT if isinstance(said.get(k), str)}
            rest = "; ".join(f"{k}: {_short(v)}" for k, v in said.items())
            lines.append(f"+ {head} added{where}" + (f": {rest}" if rest else ""))
            for name, value in text.items():
                lines += _text(name, value)
        else:
            fields = {**c["fields"], **(c.get("shown") or {})}
            text = {k: v for k, v in fields.items() if k in TEXT and all(_is_text(x) for x in v)}
            parts = [
                f"{k}: {_short(a)} -> {_short(b)}" for k, (a, b) in fields.items() if k not in text
            ]
            parts += [f"{k} changed" for k in text]
            lines.append(f"~ {head}: " + "; ".join(parts))
            for name, (a, b) in text.items():
                lines += _text(f"{name} was", a) + _text(f"{name} now", b)
        if isinstance(c.get("oversight"), dict):
            lines.append(_oversight(str(c["oversight"].get("gate") or c["id"]), c["oversight"]))
    return lines


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _text(name: str, value: Any) -> list[str]:
    """`name: value`, a line of the value a line (each cut at _TEXT_CUT, at most _TEXT_LINES)."""
    rows = str(value).splitlines() if value else ["-"]
    pad = " " * (len(name) + 6)
    out = [f"    {name}: {_cut(_flat(rows[0]), _TEXT_CUT)}"]
    out += [pad + _cut(_flat(row), _TEXT_CUT) for row in rows[1:_TEXT_LINES]]
    if len(rows) > _TEXT_LINES:
        out.append(f"{pad}… {len(rows) - _TEXT_LINES} more lines")
    return out


def _oversight(gate: str, said: dict[str, Any]) -> str:
    """Who must agree to a change that weakens a gate (engine/run/amend_oversight.py)."""
    quorum = int(said.get("quorum") or 1)
    barred = ", ".join(said.get("not") or ())
    but = f", not {barred}: the gate forbids self-approval" if barred else ""
    if said.get("approvers"):
        who = f"{quorum} of its approvers ({', '.join(said['approvers'])}{but})"
    else:
        who = f"{quorum} approval{'s' if quorum != 1 else ''} from anyone{but}"
    return f"  ! this weakens gate {gate}: {who} must approve this change too"


def _short(value: Any) -> str:
    return _cut(_flow(value), _CUT)


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _flat(text: str) -> str:
    return text.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def _unset(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _flow(value: Any, top: bool = True) -> str:
    """A value as a plan writes it (YAML's flow style), a mapping's unset keys left out."""
    if _unset(value) and top:
        return "-"
    if isinstance(value, dict):
        items = (f"{k}: {_flow(v, False)}" for k, v in value.items() if not _unset(v))
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v, False) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _flat(str(value)) if value != "" else "''"
