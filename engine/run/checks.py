"""Preconditions (`checks:`): binaries on PATH, files, environment variables, disk and memory."""

from __future__ import annotations

import os

from phasegate.engine.plan.model import Checks


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def run_checks(
    checks: Checks | None, workdir: str, env: dict[str, str]
) -> list[tuple[str, bool, str]]:
    """Evaluate the checks; each result is (what, passed, detail)."""
    if checks is None:
        return []
    results: list[tuple[str, bool, str]] = []
    import shutil  # (only for a plan with checks: not at start-up)

    path = env.get("PATH", os.defpath)
    for binary in checks.binaries:
        found = shutil.which(binary, path=path)
        results.append(
            (
                f"binary {binary}",
                found is not None,
                found or f"'{binary}' is not on PATH; install it",
            )
        )
    for name in checks.files:
        full = os.path.join(workdir, os.path.expanduser(name))
        ok = os.path.exists(full)
        results.append((f"file {name}", ok, full if ok else f"{full} does not exist"))
    for var in checks.env:
        ok = bool(env.get(var))
        results.append((f"env {var}", ok, "set" if ok else f"${var} is not set; export it"))
    if checks.disk is not None:
        free = shutil.disk_usage(workdir).free
        ok = free >= checks.disk
        results.append(
            ("disk", ok, f"{_size(free)} free in {workdir}, {_size(checks.disk)} needed")
        )
    if checks.memory is not None:
        import psutil

        available = psutil.virtual_memory().available
        ok = available >= checks.memory
        results.append(
            ("memory", ok, f"{_size(available)} available, {_size(checks.memory)} needed")
        )
    return results
