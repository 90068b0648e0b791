"""Machine pressure as risks: CPU, memory and the workdir's disk past the plan's thresholds
(`risks: {cpu: 95, memory: 90, disk: 95}`, percentages; 0 turns one off). Sampled every few
seconds by the runner; psutil is imported on the first sample, not at start-up."""

from __future__ import annotations

from collections.abc import Callable

from phasegate.engine.plan.model import RiskSettings
from phasegate.engine.watch.risks import Finding

EVERY = 5  # ticks (seconds) between two samples


def sample(rules: RiskSettings, workdir: str, worktrees: str = "") -> list[Finding]:
    """`worktrees`: where the run's git worktrees are, when it has any: its disk is watched
    too when it is another filesystem than the workdir's."""
    import psutil

    def cpu() -> float:
        return float(psutil.cpu_percent(interval=None))

    def memory() -> float:
        return float(psutil.virtual_memory().percent)

    def disk() -> float:
        return float(psutil.disk_usage(workdir).percent)

    found = []
    checks: list[tuple[str, float, Callable[[], float], str]] = [
        ("cpu", rules.cpu, cpu, "CPU"),
        ("memory", rules.memory, memory, "memory"),
        ("disk", rules.disk, disk, f"disk of {workdir}"),
    ]
    if worktrees and _other_device(worktrees, workdir):
        trees = worktrees  # (bound now: the lambda below runs in this call)
        checks.append(
            (
                "worktree_disk",
                rules.disk,
                lambda: float(psutil.disk_usage(trees).percent),
                f"disk of the run's worktrees ({trees})",
            )
        )
    for key, limit, measure, what in checks:
        if not limit:
            continue
        try:
            used = measure()
        except OSError:
            continue
        if used >= limit:
            found.append(
                Finding(
                    f"pressure:{key}",
                    "machine_pressure",
                    "critical" if used >= 99 else "high",
                    "run",
                    f"{what} at {used:.0f}% (threshold {limit:g}%)",
                    "reduce the agents' slots (phasegate slots), or free the machine",
                    {"resource": key, "used_pct": used, "threshold_pct": limit},
                )
            )
    return found


def _other_device(path: str, workdir: str) -> bool:
    import os

    try:
        return os.stat(path).st_dev != os.stat(workdir).st_dev
    except OSError:
        return False
