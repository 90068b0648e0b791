"""Machine pressure as risks: CPU, memory and the workdir's disk past the plan's thresholds
(`risks: {cpu: 95, memory: 90, disk: 95}`, percentages; 0 turns one off). Sampled every few
seconds by the runner; psutil is imported on the first sample, not at start-up.

A busy CPU names its top consumer and whether it is the run's (the engine or a process under
it): it is critical only when the run is the cause or is being slowed (its processes want CPU on
a saturated machine); a machine kept busy by others while the run's processes are idle is a
medium risk, a fact to know rather than an alarm.

psutil measures CPU use between two calls: the first sample of a run only primes the counters
(the machine's and each process's) and judges memory and disks alone; the CPU is judged from the
second on, over a real interval. A process of the run that started since the last sample has no
measure yet: it is not said to be idle."""

from __future__ import annotations

import os
from collections.abc import Callable

import msgspec

from phasegate.engine.plan.model import RiskSettings
from phasegate.engine.watch.risks import Finding

EVERY = 5  # ticks (seconds) between two samples
BUSY = 5.0  # % of one core: a run process using more wants CPU (a saturated machine slows it)


class Consumer(msgspec.Struct, frozen=True):
    """A process and its CPU use since the last sample (% of one core)."""

    pid: int
    name: str
    cpu: float
    ours: bool  # the engine's or a process under it
    measured: bool = True  # False: it started since the last sample (its use is not known yet)


def cpu_finding(used: float, limit: float, consumers: list[Consumer]) -> Finding:
    """The CPU risk: `used` (% of the machine) past `limit`, told with its top consumer."""
    measured = [c for c in consumers if c.measured]
    top = max(measured, key=lambda c: c.cpu, default=None)
    run_cpu = sum(c.cpu for c in measured if c.ours)
    slowed = any(c.ours and c.cpu >= BUSY for c in measured)
    unknown = [c for c in consumers if c.ours and not c.measured]
    cause = top is not None and top.ours
    message = f"CPU at {used:.0f}% (threshold {limit:g}%)"
    if top is not None:
        whose = "the run's" if top.ours else "not the run's"
        message += f"; top: {top.name} (pid {top.pid}, {top.cpu:.0f}% of a core, {whose})"
    if cause or slowed:
        severity = "critical" if used >= 99 else "high"
        action = (
            "reduce the agents' slots (phasegate slots)"
            if cause
            else "free the machine: the run's tasks are slowed by other processes"
        )
    elif unknown:  # (not measured: not said to be idle either)
        severity = "medium"
        action = (
            f"{len(unknown)} of the run's processes started since the last sample (not "
            "measured yet); free the machine if it lasts"
        )
    else:
        severity, action = "medium", "nothing of the run's is slowed; free the machine if it lasts"
    evidence = {"resource": "cpu", "used_pct": used, "threshold_pct": limit, "run_pct": run_cpu}
    if unknown:
        evidence["run_unmeasured"] = len(unknown)
    if top is not None:
        evidence.update(top_pid=top.pid, top_name=top.name, top_pct=top.cpu, top_ours=top.ours)
    return Finding("pressure:cpu", "machine_pressure", severity, "run", message, action, evidence)


_SCANNED: set[int] = set()  # the processes the last call of consumers() measured from


def consumers(engine: int | None = None) -> list[Consumer]:
    """Every process's CPU use since the last call (psutil keeps the processes between calls,
    so the first call reads 0 for all), marked the run's when it is `engine` or under it; a
    process of the run the last call did not see is listed as not measured."""
    import psutil

    global _SCANNED

    engine = os.getpid() if engine is None else engine
    try:
        ours = {engine} | {p.pid for p in psutil.Process(engine).children(recursive=True)}
    except psutil.Error:
        ours = {engine}
    out, seen, before = [], set(), _SCANNED
    for proc in psutil.process_iter(["name"]):
        try:
            cpu = proc.cpu_percent(interval=None)
        except psutil.Error:
            continue
        seen.add(proc.pid)
        mine, measured = proc.pid in ours, proc.pid in before
        if cpu > 0 or (mine and not measured):
            name = str(proc.info.get("name") or "?")
            out.append(Consumer(proc.pid, name, cpu, mine, measured or cpu > 0))
    _SCANNED = seen
    return out


def sample(
    rules: RiskSettings, workdir: str, worktrees: str = "", primed: bool = True
) -> list[Finding]:
    """`worktrees`: where the run's git worktrees are, when it has any: its disk is watched
    too when it is another filesystem than the workdir's; `primed`: False for the run's first
    sample, which only starts the CPU's counters (what it would read measures nothing)."""
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
    # each process's use since the last sample, read every sample (the first reads nothing)
    procs = consumers() if rules.cpu else []
    if rules.cpu and not primed:
        psutil.cpu_percent(interval=None)  # (measured from here on)
    for key, limit, measure, what in checks:
        if not limit or (key == "cpu" and not primed):
            continue
        try:
            used = measure()
        except OSError:
            continue
        if used >= limit and key == "cpu":
            found.append(cpu_finding(used, limit, procs))
        elif used >= limit:
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
