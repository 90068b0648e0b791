"""A plan's secrets: reading each declared one from its source (the starter's environment or a
file only its owner can read), the checks of `secrets:` (every name declared, every source
there), and the warning for a literal key written into `env:` or `vars:`."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from typing import Any

from phasegate.engine.model.errors import PlanError, Problem
from phasegate.engine.model.secrets import looks_like_key
from phasegate.engine.plan.flaws import Flaw, dicts, mapping
from phasegate.engine.plan.messages import cut
from phasegate.engine.plan.model import Plan

MIN_LENGTH = 8  # a shorter value cannot be told apart from ordinary text, so not redacted


class SecretUnavailable(ValueError):
    """A declared secret whose source gives no value; the message says which and why."""


def read_secret(
    name: str, source: Mapping[str, Any], base_dir: str, environ: Mapping[str, str] | None = None
) -> str:
    """The value of secret `name` from its source (`{env: VAR}` or `{file: PATH}`)."""
    environ = os.environ if environ is None else environ
    if isinstance(source.get("env"), str):
        var = source["env"]
        value = environ.get(var)
        if not value:
            raise SecretUnavailable(
                f"secret {name}: environment variable {var} is "
                f"{'empty' if value == '' else 'not set'}; export it before starting the run"
            )
        where = f"environment variable {var}"
    else:
        path = os.path.join(base_dir, os.path.expanduser(str(source.get("file"))))
        try:
            with open(path, encoding="utf-8") as f:
                mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
                if mode & 0o077:
                    raise SecretUnavailable(
                        f"secret {name}: {path} is {mode:o}: other users may read it; "
                        f"`chmod 600 {path}` (a secret's file must be its owner's alone)"
                    )
                value = f.read(1 << 20).rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SecretUnavailable(f"secret {name}: file {path} cannot be read: {why}") from None
        if not value:
            raise SecretUnavailable(f"secret {name}: file {path} is empty")
        where = f"file {path}"
    if len(value) < MIN_LENGTH:
        raise SecretUnavailable(
            f"secret {name}: the value in {where} has {len(value)} characters; a secret of fewer "
            f"than {MIN_LENGTH} cannot be told apart from other text, so it cannot be kept out "
            "of logs"
        )
    return value


def resolve(plan: Plan, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every declared secret's value, read now from its source; PlanError names what is missing."""
    values, problems = {}, []
    for name, spec in plan.secrets.items():
        try:
            values[name] = read_secret(name, spec.dump(), plan.base_dir, environ)
        except SecretUnavailable as exc:
            problems.append(Problem(plan.path, None, f"secrets.{name}", str(exc)))
    for name, value in values.items():
        inside = sorted(n for n in plan.names() if value and value in n)
        if inside:  # (the run would show it as a name, and lose track of that name)
            problems.append(
                Problem(
                    plan.path,
                    None,
                    f"secrets.{name}",
                    f"its value is in the plan's name '{inside[0]}': a secret must not be part "
                    "of a task's, phase's, agent's or gate's id; rename it or change the secret",
                )
            )
    if problems:
        raise PlanError(problems)
    return values


def readable(plan: Plan, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The declared secrets whose source this process can read now, by name (the others are
    left out: what is written after a run's end is redacted of what this process knows)."""
    sources = {name: spec.dump() for name, spec in plan.secrets.items()}
    return _readable(sources, plan.base_dir, environ)


def readable_in_text(text: str, base_dir: str) -> dict[str, str]:
    """As `readable`, from a plan's text whatever else it holds (a kept plan that no longer
    validates): its `secrets:` mapping as written, each source read if it can be."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    declared = data.get("secrets") if isinstance(data, dict) else None
    sources = {
        str(name): source
        for name, source in (declared.items() if isinstance(declared, dict) else ())
        if isinstance(source, dict)
    }
    return _readable(sources, base_dir)


def _readable(
    sources: Mapping[str, Mapping[str, Any]],
    base_dir: str,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    values = {}
    for name, source in sources.items():
        try:
            values[name] = read_secret(name, source, base_dir, environ)
        except (SecretUnavailable, OSError, ValueError):  # (what cannot be read is not known)
            continue
    return values


def secret_sources(plan: Plan) -> set[str]:
    """The environment variables secrets are read from (kept out of other tasks' environment)."""
    return {s.env for s in plan.secrets.values() if s.env}


def secret_flaws(data: dict[str, Any]) -> Iterator[Flaw]:
    """Names under an agent's or a task's `secrets:` that the plan does not declare."""
    declared = mapping(data.get("secrets"))
    listing = ", ".join(sorted(str(n) for n in declared)) or "none"
    users: list[tuple[tuple[str | int, ...], Any]] = [
        (("agents", name), agent) for name, agent in mapping(data.get("agents")).items()
    ]
    for pi, phase in dicts(data.get("phases")):
        users += [(("phases", pi, "tasks", ti), t) for ti, t in dicts(phase.get("tasks"))]
    for base, entry in users:
        names = entry.get("secrets") if isinstance(entry, dict) else None
        for i, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in declared:
                yield Flaw(
                    (*base, "secrets", i),
                    False,
                    f"secret '{cut(name)}' is not declared; declare it under the plan's "
                    f"`secrets:` as {cut(name)}: {{env: VARIABLE}} or {{file: PATH}} "
                    f"(declared: {listing})",
                )


def source_flaws(data: dict[str, Any], base_dir: str) -> Iterator[Flaw]:
    """Declared secrets whose source gives no value here, now (an error for a run; a warning
    for `validate` and the dry run, which a machine without the keys may well be asked for)."""
    for name, source in mapping(data.get("secrets")).items():
        if not isinstance(source, dict) or len(source) != 1:
            continue  # the model reports it
        key = next(iter(source))
        if key not in ("env", "file") or not isinstance(source[key], str) or not source[key]:
            continue
        try:
            read_secret(str(name), source, base_dir)
        except SecretUnavailable as exc:
            yield Flaw(("secrets", name, key), False, str(exc))


def key_warnings(data: dict[str, Any]) -> Iterator[Flaw]:
    """A value in `env:` or `vars:` that looks like a key: it would be kept in the plan's text."""
    places: list[tuple[tuple[str | int, ...], Any]] = [(("vars",), data.get("vars"))]
    for name, agent in mapping(data.get("agents")).items():
        places.append((("agents", name, "env"), mapping(agent).get("env")))
    for pi, phase in dicts(data.get("phases")):
        for ti, task in dicts(phase.get("tasks")):
            places.append((("phases", pi, "tasks", ti, "env"), task.get("env")))
    for base, values in places:
        for var, value in mapping(values).items():
            kind = looks_like_key(value) if isinstance(value, str) else ""
            if kind:
                env = "VARIABLE" if base == ("vars",) else str(var)
                yield Flaw(
                    (*base, var),
                    False,
                    f"this value looks like a secret ({kind}) written into the plan, which is "
                    f"kept with every run; declare it instead: under `secrets:` write "
                    f"{var}: {{env: {env}}} (or {{file: PATH}}), and list {var} under the "
                    "`secrets:` of the tasks or agents that need it",
                )
