"""The shell scripts an SSH task runs under on the remote side (POSIX sh, GNU tail).

A task's attempt gets a directory, `~/.phasegate/runs/RUN/TASK-ATTEMPT/`. `start` enters the
workdir, exports the task's environment and starts a wrapper with `setsid`: the wrapper leads the
task's own session and process group, writes its pid to `pid`, runs the task with its output
appended to `out` and `err`, and writes the exit status to `status` when it ends. The wrapper
survives a TERM to its group (it traps it) so that a terminated task still leaves its status.

The session itself only follows those files (`tail -f --pid`) and prints them on its stdout and
stderr, after a first line `PHASEGATE-PID N`; it exits with the task's status once the wrapper is
gone and the files are read to their end. The task does not depend on the session: a connection
lost mid-task leaves it running, and `follow` reattaches from the byte where the stream stopped.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

HEADER = b"PHASEGATE-PID "
NO_STATUS = 255  # the session's status when the task left none (killed by KILL)

_WRAPPER = (
    'd=$1; shift; echo $$ >"$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"; trap : TERM INT HUP; '
    '"$@" <&3 3<&- >>"$d/out" 2>>"$d/err" & c=$!; '
    "while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || break; done; "
    'echo "$s" >"$d/status.tmp" && mv "$d/status.tmp" "$d/status"'
)


def task_dir(run_id: str, task: str, attempt: int) -> str:
    """The attempt's remote directory, relative to the remote home."""
    return f".phasegate/runs/{_safe(run_id)}/{_safe(task)}-{attempt}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "_"


def start(argv: list[str], env: Mapping[str, str], workdir: str | None, d: str, stdin: bool) -> str:
    q = shlex.quote
    lines = [
        f'd="$HOME"/{q(d)}',
        'rm -rf "$d" && mkdir -p "$d" && : >"$d/out" && : >"$d/err" || exit 126',
    ]
    if workdir:
        lines.append(
            f"cd {q(workdir)} 2>/dev/null || {{ echo "
            f"{q(f'phasegate: cannot enter the workdir {workdir} on the remote host')} >&2; "
            "exit 126; }"
        )
    else:
        lines.append('cd "$HOME" || exit 126')
    lines += [f"export {k}={q(v)}" for k, v in sorted(env.items())]
    lines.append('export PHASEGATE_WORKDIR="$PWD"')
    lines.append("exec 3<&0" if stdin else "exec 3</dev/null")
    argv_q = " ".join(q(a) for a in argv)
    lines.append(f'setsid sh -c {q(_WRAPPER)} sh "$d" {argv_q} >/dev/null 2>&1 &')
    lines.append("exec 3<&-")
    lines.append(_follow_body(0, 0))
    return "\n".join(lines) + "\n"


def follow(d: str, out_from: int, err_from: int) -> str:
    """Reattach to an attempt: its output from these byte offsets, its status at its end."""
    return f'd="$HOME"/{shlex.quote(d)}\n[ -d "$d" ] || exit {NO_STATUS}\n' + _follow_body(
        out_from, err_from
    )


def _follow_body(out_from: int, err_from: int) -> str:
    return (
        'while [ ! -s "$d/pid" ]; do [ -f "$d/status" ] && break; sleep 0.01; done\n'
        'pid=$(cat "$d/pid" 2>/dev/null); echo "PHASEGATE-PID ${pid:-0}"\n'
        f'tail -c +{err_from + 1} -f --pid="${{pid:-1}}" "$d/err" >&2 & t=$!\n'
        f'tail -c +{out_from + 1} -f --pid="${{pid:-1}}" "$d/out"\n'
        'wait $t\n[ -s "$d/status" ] && exit "$(cat "$d/status")"\n'
        f"echo 'phasegate: the task ended without an exit status (killed)' >&2; exit {NO_STATUS}\n"
    )


def stop_group(pgid: int, grace: float, only_kill: bool = False) -> str:
    """TERM the group, KILL it after `grace` seconds if anything is left; exits when it is gone."""
    g = f"-- -{int(pgid)}"
    if only_kill:
        return f"kill -KILL {g} 2>/dev/null; exit 0\n"
    return f"kill -TERM {g} 2>/dev/null || exit 0\n" + _wait_then_kill(g, grace) + "exit 0\n"


def _wait_then_kill(g: str, grace: float) -> str:
    ticks = max(1, int(grace / 0.05))
    return (
        f"i=0; while kill -0 {g} 2>/dev/null && [ $i -lt {ticks} ]; do\n"
        "sleep 0.05; i=$((i+1)); done\n"
        f"kill -KILL {g} 2>/dev/null\n"
    )


def stop_lost(d: str, grace: float, keep_background: bool) -> str:
    """Stop an attempt the engine lost with its connection, by the pid its directory records:
    prints `stopped PID` (it was running: its group was TERMed, then KILLed after `grace`),
    `ended PID` (it had ended; what it left in its group is stopped unless `keep_background`),
    or `none` (it never started)."""
    keep = "true" if keep_background else "false"
    return (
        f'd="$HOME"/{shlex.quote(d)}\n'
        'pg=$(cat "$d/pid" 2>/dev/null)\n'
        "case $pg in ''|*[!0-9]*) echo none; exit 0;; esac\n"
        'if [ -s "$d/status" ]; then said=ended; else said=stopped; fi\n'
        f'if [ $said = ended ] && {keep}; then echo "ended $pg"; exit 0; fi\n'
        'kill -TERM -- -"$pg" 2>/dev/null || said=ended\n'
        + _wait_then_kill('-- -"$pg"', grace)
        + 'echo "$said $pg"\n'
    )


def status_of(d: str) -> str:
    """Prints `done N`, `running PID`, or `gone` for an attempt's directory."""
    return (
        f'd="$HOME"/{shlex.quote(d)}\n'
        'if [ -s "$d/status" ]; then echo "done $(cat "$d/status")"; '
        'elif [ -s "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then '
        'echo "running $(cat "$d/pid")"; else echo gone; fi\n'
    )


def exists(workdir: str | None, paths: list[str]) -> str:
    """Prints each path that does not exist, one a line (relative to the workdir)."""
    cd = f"cd {shlex.quote(workdir)} || exit 1" if workdir else 'cd "$HOME" || exit 1'
    checks = "\n".join(f"[ -e {shlex.quote(p)} ] || echo {shlex.quote(p)}" for p in paths)
    return f"{cd}\n{checks}\n"
