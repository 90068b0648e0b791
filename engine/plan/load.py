"""Read a plan file and validate it: its text, then the model and semantic checks, problems placed.

Parsing the text (libyaml, its limits, the lines of key paths) is plan.yamlsource's; here the
file is read (size, encoding and binary data refused with a problem) and every problem of the
data is collected, each placed on its line, in one pass.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Iterator
from itertools import chain

from phasegate.engine.model.errors import PlanError, Problem
from phasegate.engine.plan.budgets import usd_warnings
from phasegate.engine.plan.check import identity_flaws, reserved_vars, semantic_problems
from phasegate.engine.plan.convert import convert
from phasegate.engine.plan.deciders import approver_warnings
from phasegate.engine.plan.extras import extra_flaws
from phasegate.engine.plan.messages import cut, issue_message
from phasegate.engine.plan.model import Plan
from phasegate.engine.plan.repo import handoff_warnings, workdir_flaws, workdir_of, worktree_flaws
from phasegate.engine.plan.secrets import key_warnings, secret_flaws, source_flaws
from phasegate.engine.plan.shape import Issue, value_at
from phasegate.engine.plan.suspicions import rule_warnings, suspicions
from phasegate.engine.plan.template import BUILTINS, CONTEXTUAL, names_in
from phasegate.engine.plan.yamlsource import Lines, format_path, parse

MAX_BYTES = 32 * 1024 * 1024


def read_text(path: str) -> tuple[str, list[Problem]]:
    """The file's text, or a problem saying why it is not a plan's text."""
    too_big = f"a plan may be at most {MAX_BYTES // 2**20} MiB; split the work into several plans"
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            return "", [Problem(path, None, "", f"the file is {size / 2**20:.0f} MiB; {too_big}")]
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)  # bounded: a pipe or a device has no size to check first
    except FileNotFoundError:
        return "", [Problem(path, None, "", "no such file; check the path")]
    except IsADirectoryError:
        return "", [Problem(path, None, "", "is a directory; give the plan's YAML file")]
    except OSError as exc:
        return "", [Problem(path, None, "", f"cannot be read: {exc.strerror}; check the path")]
    if len(raw) > MAX_BYTES:
        msg = f"the input is over {MAX_BYTES // 2**20} MiB; {too_big}"
        return "", [Problem(path, None, "", msg)]
    nul = raw.find(b"\x00")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if 0 <= nul < exc.start:
            return "", [_binary(path, raw, nul)]
        line = raw[: exc.start].count(b"\n") + 1
        msg = (
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); a plan is a YAML text file: "
            "save it as UTF-8"
        )
        return "", [Problem(path, line, "", msg)]
    if nul >= 0:
        return "", [_binary(path, raw, nul)]
    return text, []


def _binary(path: str, raw: bytes, nul: int) -> Problem:
    line = raw[:nul].count(b"\n") + 1
    return Problem(path, line, "", "binary data (a NUL byte); a plan is a YAML text file")


def _model_problems(
    issues: list[Issue], data: object, file: str, lines: Lines
) -> Iterator[Problem]:
    for issue in issues:
        path = issue.path
        msg = issue_message(issue, path[-1] if issue.key else value_at(path, data))
        on_key = issue.key or issue.kind == "extra"
        yield Problem(file, lines.line(path, key=on_key), lines.dotted(path), msg)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Building a plan allocates many containers and none of them is garbage yet: the cyclic
    collector would walk them again and again (it is most of `yaml.load`'s time on big plans)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def plan_from_text(
    text: str,
    file: str,
    base_dir: str,
    extra_vars: Iterable[str] = (),
    here: bool = True,
    to_run: bool = True,
) -> Plan:
    """Validate a plan's text; raise PlanError with every problem, each placed on its line.
    `here=False`: leave out what only this machine, now, can say (the secrets' sources, the
    git repository of worktree tasks): a run's kept plan read back for its reports.
    `to_run=False`: a secret whose source gives no value here is a warning, not a problem (the
    plan checked, or its run simulated, on a machine that does not hold the keys: CI, an
    editor); a run refuses to start without it."""
    lines = Lines(text)
    with _gc_paused():
        parsed = parse(text, file, lines)
        if parsed.problems or parsed.data is None:
            raise PlanError(parsed.problems)
        data = parsed.data
        problems: list[Problem] = []
        for mapping, repeated, first in parsed.duplicates:
            inside = lines.path_to(mapping)
            name = repeated.value
            problems.append(
                Problem(
                    file,
                    lines.clamp(repeated.start_mark.line + 1),
                    format_path((*inside, name)) if inside is not None else str(name),
                    f"key '{cut(name)}' is written twice (first on line "
                    f"{first.start_mark.line + 1}); YAML keeps only the last: remove one",
                )
            )
        plan: Plan | None
        plan, issues = convert(data, Plan)
        problems.extend(_model_problems(issues, data, file, lines))
        seen = {(p.key, p.message) for p in problems}
        for found in semantic_problems(data, extra_vars):
            dotted = lines.dotted(found.path)
            if (dotted, found.message) in seen:  # also found by a model validator
                continue
            seen.add((dotted, found.message))
            line = lines.line(found.path, key=found.key, needle=found.needle)
            problems.append(Problem(file, line, dotted, found.message))
        flaws = [secret_flaws(data), extra_flaws(data)]
        if here:
            flaws.append(worktree_flaws(data, base_dir))
        # (what this machine lacks now: an error for a run, a warning for validate)
        unavailable = (
            chain(source_flaws(data, base_dir), workdir_flaws(data, base_dir)) if here else iter(())
        )
        if to_run:
            flaws.append(unavailable)
        for found in chain(*flaws):
            line = lines.line(found.path, key=found.key)
            problems.append(Problem(file, line, lines.dotted(found.path), found.message))
        warnings = [
            Problem(
                file, lines.line(w.path, key=w.key), lines.dotted(w.path), w.message, warning=True
            )
            for w in chain(
                key_warnings(data),
                reserved_vars(data),
                rule_warnings(data),
                usd_warnings(data),
                () if to_run else unavailable,
                () if to_run else approver_warnings(data),  # (`run` refuses: engine/run/gates)
                handoff_warnings(data),
                suspicions(data),
                # (a warning for a run too: the key may be needed by no task, or be made later)
                identity_flaws(data, workdir_of(data, base_dir)) if here else (),
            )
        ]
    problems.extend(_unknown_vars(data, extra_vars, file, refuse_builtins=here))
    if problems or plan is None:
        problems += warnings
        problems.sort(key=lambda p: p.line or 0)
        raise PlanError(problems)
    plan.place(path=file, base_dir=base_dir, text=text, warnings=warnings)
    return plan


def _unknown_vars(
    data: object, given: Iterable[str], file: str, refuse_builtins: bool = True
) -> list[Problem]:
    """A `--var` that names no variable the plan declares under `vars:` (a typo would go
    unnoticed), or a built-in or a name that phasegate sets where it is used (`{script}`,
    `{query}`: the value given would be ignored). A name only the plan's text uses is given
    that way (`{who}` with `--var who=x`), unless it is close to a declared one: then it is a
    typo, in the command or in the --var. `refuse_builtins=False`: a run's kept plan read back,
    whose variables an older phasegate accepted."""
    given = list(given)
    if not given:
        return []
    declared = data.get("vars") if isinstance(data, dict) else None
    known = {str(v) for v in declared} if isinstance(declared, dict) else set()
    used = _names_used(data) - set(BUILTINS) - set(CONTEXTUAL)  # (phasegate sets those)
    out = []
    for name in given:
        if name in BUILTINS or name in CONTEXTUAL:  # (phasegate sets it: refused, or ignored)
            if refuse_builtins:
                kind, where, listed = (
                    ("built-in", "for each run", f"built-ins: {', '.join(BUILTINS)}")
                    if name in BUILTINS
                    else ("reserved", CONTEXTUAL[name], f"reserved: {', '.join(CONTEXTUAL)}")
                )
                message = (
                    f"'{name}' is a {kind} variable, set by phasegate {where}; "
                    f"--var cannot set it ({listed})"
                )
                out.append(Problem(file, None, "--var", message))
            continue
        if name in known:
            continue
        import difflib  # (only for a plan with a mistake: not at start-up)

        close = difflib.get_close_matches(name, sorted(known), n=1)
        if name in used and (not close or not refuse_builtins):
            continue
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listing = ", ".join(sorted(known)) or "none"
        message = f"the plan has no variable '{cut(name)}'{hint} (its variables: {listing})"
        out.append(Problem(file, None, "--var", message))
    return out


def _names_used(data: object) -> set[str]:
    if isinstance(data, str):
        return set(names_in(data))
    if isinstance(data, dict):
        return set().union(*(_names_used(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(_names_used(v) for v in data)) if data else set()
    return set()


def load_plan(path: str, extra_vars: Iterable[str] = (), to_run: bool = True) -> Plan:
    """Load and validate a plan file; raise PlanError listing every problem. `to_run=False`:
    checked or simulated only (a secret whose source gives no value here is a warning)."""
    text, problems = read_text(path)
    if problems:
        raise PlanError(problems)
    base = os.path.dirname(os.path.abspath(path))
    return plan_from_text(text, path, base, extra_vars, to_run=to_run)


def validate_file(path: str, extra_vars: Iterable[str] = ()) -> list[Problem]:
    """Every problem of a plan file, in one pass (warnings too); none is an error for a valid
    plan. A secret that this machine does not hold is a warning: the run would refuse."""
    try:
        plan = load_plan(path, extra_vars, to_run=False)
    except PlanError as exc:
        return exc.problems
    return list(plan.warnings)
