"""Tasks on another host over SSH (an agent's `host: user@host[:port]`), with asyncssh.

One connection per host, made on the first task, shared by the agents that name the host. Keys
come from the SSH agent, ~/.ssh or the agent's `ssh.identity`; the host's key is checked against
`ssh.known_hosts` (default ~/.ssh/known_hosts): an unknown or changed key is an error naming the
host and the file. No password or passphrase is ever asked (password and keyboard-interactive
authentication are off), and ~/.ssh/config is not read: the plan says everything.

Each attempt runs under a small remote bootstrap (engine/exec/ssh_boot.py): its own session and
process group, its pid, output and exit status in `~/.phasegate/runs/RUN/TASK-ATTEMPT/` on the
remote side. The task's environment there is what the engine adds to its own: the PHASEGATE_*
variables, the plan's, agent's and task's `env` and its secrets, not the engine's whole
environment. It runs in `ssh.workdir`, or the remote home.

A lost connection (keepalives notice it) is retried for `ssh.connect_timeout`; on reconnecting,
each attempt it carried is read again: ended (its real exit status), or still running (its output
followed on from where the stream stopped; one spoken to on its stdin is stopped and fails, its
input being gone). Not reconnected within the limit: the attempt ends failed, `connection lost`,
into its retry policy; it is never re-run silently, nor beside itself: its process may live on,
and the host's next connection stops it before anything new runs there (ssh_reap.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from phasegate.engine.exec import ssh_boot as boot
from phasegate.engine.exec.base import Exit, ProcSpec
from phasegate.engine.exec.executors import REMOTE
from phasegate.engine.exec.ssh_connect import SshError, asyncssh, connect
from phasegate.engine.exec.ssh_reap import Lost, LostAttempts, settle
from phasegate.engine.plan.model import Agent, SshOptions

MAX_LINE = 1 << 20  # a longer line is cut into pieces of this size, as a file tail does
_READ = 65536


def task_env(env: dict[str, str]) -> dict[str, str]:
    """What crosses to the remote side: what the engine adds to its own environment."""
    here = os.environ
    return {k: v for k, v in env.items() if k.startswith("PHASEGATE_") or here.get(k) != v}


class SshProcess:
    """One attempt on the remote host: its session's output, its group's signals, its end."""

    def __init__(
        self,
        ex: SshExecutor,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
        d: str,
        script: str | None = None,
        task: tuple[str, int] = ("", 0),
    ) -> None:
        self._ex, self._spec, self._on_line, self._on_exit = ex, spec, on_line, on_exit
        self.dir, self._label = d, task  # (task, attempt): ("", 0) for a command not a task's
        self.pid = self.pgid = 0
        self._got_pid = asyncio.Event()
        self._done = False
        self._offsets = {"out": 0, "err": 0}
        self._bufs = {"out": bytearray(), "err": bytearray()}
        self._proc: Any = None
        self._stdin_open = spec.stdin
        self._stopping: asyncio.Task[None] | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(script))

    # -- the session ----------------------------------------------------------------------

    async def _run(self, script: str | None = None) -> None:
        fresh = script is None  # (else it follows an attempt already on the host)
        try:
            conn = await (self._ex.fresh_connection() if fresh else self._ex.connection())
        except Exception as exc:  # (SshError; anything else, too: the task must still end)
            if not isinstance(exc, SshError):
                exc = SshError(f"cannot connect to {self._ex.key}: {exc or type(exc).__name__}")
            if not fresh:
                self._give_up(str(exc))
                return
            note = self._ex.lost.note()  # what it would have run beside
            self._end(Exit(None, f"{exc}; not run there: {note}" if note else str(exc)))
            return
        spec = self._spec
        if script is None:
            for line in self._ex.lost.said(self._label[0]):
                self._on_line("err", line)
            env = task_env(spec.env)
            script = boot.start(spec.argv, env, self._ex.opts.workdir, self.dir, spec.stdin)
        try:
            self._proc = await conn.create_process(script, encoding=None)
            if not self._stdin_open:
                self._proc.stdin.write_eof()
            await asyncio.gather(self._read("out"), self._read("err"))
            await self._proc.wait_closed()
            code = self._proc.exit_status
        except (OSError, asyncssh.Error):
            code = None
        if code is None or code < 0:  # no exit status: the connection went
            await self._lost()
            return
        if not self._spec.keep_background and self.pgid:
            with contextlib.suppress(OSError, asyncssh.Error):  # what it left in its group
                await self._ex.run(boot.stop_group(self.pgid, self._grace()))
        if code == 0 and self._spec.outputs:
            self._end(await self._outputs())
            return
        self._end(Exit(code, "" if code != boot.NO_STATUS else "ended without an exit status"))

    async def _outputs(self) -> Exit:
        """It succeeded: its declared outputs looked for on the host, in its workdir."""
        paths = self._spec.outputs
        try:
            found = await self._ex.run(boot.exists(self._ex.opts.workdir, paths), checked=True)
        except (OSError, asyncssh.Error, SshError) as exc:
            why = f"its declared outputs could not be looked for on {self._ex.key}: {exc}"
            return Exit(None, why)
        missing = set(found.splitlines())
        return Exit(0, missing=[p for p in paths if p in missing])

    async def _read(self, stream: str) -> None:
        reader = self._proc.stdout if stream == "out" else self._proc.stderr
        buf = self._bufs[stream]
        header = stream == "out"
        while True:
            try:
                data = await reader.read(_READ)
            except (OSError, asyncssh.Error):
                data = b""
            if not data:
                break
            if header:  # the first line is the wrapper's pid
                buf += data
                if b"\n" not in buf:
                    continue
                first, _, rest = bytes(buf).partition(b"\n")
                buf.clear()
                header = False
                if first.startswith(boot.HEADER):
                    self.pid = self.pgid = int(first[len(boot.HEADER) :] or 0)
                    self._got_pid.set()
                data = rest
            self._offsets[stream] += len(data)
            end = data.rfind(b"\n")
            if end < 0:
                buf += data
            else:
                buf += data[:end]
                for raw in bytes(buf).split(b"\n"):
                    self._emit(stream, raw)
                buf[:] = data[end + 1 :]
            while len(buf) > MAX_LINE:
                self._emit(stream, bytes(buf[:MAX_LINE]))
                del buf[:MAX_LINE]

    def _emit(self, stream: str, raw: bytes) -> None:
        self._on_line(stream, raw.decode("utf-8", "replace"))

    def _flush(self) -> None:
        for stream, buf in self._bufs.items():
            if buf:
                self._emit(stream, bytes(buf))
                buf.clear()

    def _end(self, result: Exit) -> None:
        if self._done:
            return
        self._done = True
        self._flush()
        self._ex.forget(self)
        self._on_exit(result)

    def _grace(self) -> float:
        return 2.0 if self._spec.kill_grace is None else self._spec.kill_grace

    # -- a lost connection ------------------------------------------------------------------

    async def _lost(self) -> None:
        """The session went without an exit status: reconnect and read the attempt again."""
        host = self._ex.key
        try:
            await self._ex.reconnect()
            state = (await self._ex.run(boot.status_of(self.dir))).strip()
        except (OSError, asyncssh.Error, SshError) as exc:
            self._give_up(f"connection to {host} lost: {exc}")
            return
        if state.startswith("running") and self._stdin_open:
            # spoken to on its stdin, which went with the session: stop it, it fails
            self.pgid = self.pgid or int(state.split()[1])
            try:
                await self._ex.run(boot.stop_group(self.pgid, self._grace()))
            except (OSError, asyncssh.Error, SshError) as exc:
                self._give_up(f"connection to {host} lost; its input gone, not stopped: {exc}")
                return
            self._end(Exit(None, f"connection to {host} lost; its input gone, it was stopped"))
            return
        if state == "gone":
            self._end(Exit(None, f"connection to {host} lost; the task left no exit status"))
            return
        # ended while the link was down, or still running: follow it on from where it stopped
        self._on_line("err", f"phasegate: connection to {host} lost and made again; following on")
        self._stdin_open = False
        out, err = self._offsets["out"], self._offsets["err"]
        self._bufs = {"out": bytearray(), "err": bytearray()}
        await self._run(boot.follow(self.dir, out, err))

    def _give_up(self, why: str) -> None:
        """Its connection is gone for good, its process perhaps not: the host's next
        connection stops it (never a retry beside it); its reason says where it may run on."""
        keep = self._spec.keep_background
        lost = Lost(*self._label, self.dir, self.pgid, self._grace(), keep)
        self._ex.lost.add(lost)
        said = f"{why}; it may still be running on {self._ex.key} ({lost.pid()})"
        self._end(Exit(None, said, lost_on=self._ex.key if lost.task else "", lost_pgid=self.pgid))

    # -- the Handle -------------------------------------------------------------------------

    def terminate(self, grace: float) -> None:
        if not self._done and self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._signal(grace, False))

    def kill(self) -> None:
        if not self._done:
            asyncio.get_running_loop().create_task(self._signal(0, True))

    async def _signal(self, grace: float, only_kill: bool) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._got_pid.wait(), self._ex.opts.connect_timeout)
        if self.pgid:
            with contextlib.suppress(OSError, asyncssh.Error, SshError):
                await self._ex.run(boot.stop_group(self.pgid, grace, only_kill))

    def write(self, data: bytes) -> bool:
        if not self._stdin_open or self._proc is None:
            return False
        try:
            self._proc.stdin.write(data)
        except (OSError, asyncssh.Error):
            self._stdin_open = False
            return False
        return True

    def close_stdin(self) -> None:
        if self._stdin_open and self._proc is not None:
            with contextlib.suppress(OSError, asyncssh.Error):
                self._proc.stdin.write_eof()
        self._stdin_open = False


class SshExecutor:
    """Runs the tasks of the agents on one host."""

    def __init__(self, key: str, agent: Agent) -> None:
        self.key = key
        self.opts = agent.ssh or SshOptions()
        self._conn: Any = None
        self._lock: asyncio.Lock | None = None
        self._procs: set[SshProcess] = set()
        self.rtt: float | None = None
        self.connections = 0  # connections made so far (the run measures each one's round trip)
        self.unreachable_since: float | None = None  # (epoch) a cut connection being made again
        self.cuts: list[tuple[float, float]] = []  # (when, how long): cuts made good again
        self.lost = LostAttempts(key)  # attempts given up with a connection, perhaps running

    # -- the connection ---------------------------------------------------------------------

    async def connection(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is None:
                conn = await connect(self.key, self.opts)
                await self.lost.stop_on(conn)  # (before anything runs on it)
                self._conn = conn
                self.connections += 1
                self.unreachable_since = None
            return self._conn

    async def fresh_connection(self) -> Any:
        """The connection for a new attempt: with attempts lost here that could not be stopped
        yet, tried for `connect_timeout` (they are stopped first), SshError if it cannot be."""
        deadline = time.monotonic() + self.opts.connect_timeout
        while True:
            try:
                return await self.connection()
            except SshError:
                if not self.lost or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.2)

    async def reconnect(self) -> None:
        """Connect again, trying for `connect_timeout` seconds."""
        old, self._conn = self._conn, None
        if old is not None:
            old.close()
        if self.unreachable_since is None:
            self.unreachable_since = time.time()
        since = self.unreachable_since
        deadline = time.monotonic() + self.opts.connect_timeout
        while True:
            try:
                await self.connection()
                self.unreachable_since = None
                # (told by the run even when it healed between two of its ticks)
                self.cuts.append((since, time.time() - since))
                return
            except SshError:
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.2)

    async def run(self, script: str, checked: bool = False) -> str:
        """A short command on the host (a second channel beside the tasks' sessions);
        `checked`: one that does not exit 0 raises SshError."""
        conn = await self.connection()
        done = await conn.run(script, check=False)
        if checked and done.exit_status != 0:
            why = str(done.stderr or "").strip() or f"exit status {done.exit_status}"
            raise SshError(why)
        return str(done.stdout or "")

    async def ping(self) -> float:
        """Connect and run `true`: the round trip in seconds. A connection found cut is made
        again (for `connect_timeout`, raising SshError when it cannot be)."""
        conn = await self.connection()
        try:
            began = time.monotonic()
            await conn.run("true", check=False)
        except (OSError, asyncssh.Error):
            if self._conn is conn:  # (not made again already by a task that noticed it)
                await self.reconnect()
            began = time.monotonic()
            await self.run("true")
        self.rtt = time.monotonic() - began
        return self.rtt

    # -- the Executor -----------------------------------------------------------------------

    def start(
        self,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> SshProcess:
        env = spec.env
        # a task's attempt has its own directory (a take-over follows it there); a short
        # command (an agent's `ready` probe) one of its own, never followed
        task = env.get("PHASEGATE_TASK") or f"_cmd-{uuid.uuid4().hex[:12]}"
        attempt = int(env.get("PHASEGATE_ATTEMPT", "1") or 1)
        d = boot.task_dir(env.get("PHASEGATE_RUN_ID", "run"), task, attempt)
        label = (task, attempt) if "PHASEGATE_TASK" in env else ("", 0)
        proc = SshProcess(self, spec, on_line, on_exit, d, task=label)
        self._procs.add(proc)
        return proc

    def forget(self, proc: SshProcess) -> None:
        self._procs.discard(proc)

    def follow(
        self,
        run_id: str,
        task: str,
        attempt: int,
        skip: tuple[int, int],
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
        outputs: list[str] | None = None,
    ) -> SshProcess:
        """An attempt a dead engine started here: its output from the lines already kept
        (`skip`: out, err), its end from its status file; `outputs`: its declared outputs,
        looked for here when it succeeds."""
        d = boot.task_dir(run_id, task, attempt)
        skipped = {"out": skip[0], "err": skip[1]}

        def line(stream: str, text: str) -> None:
            if skipped[stream] > 0:
                skipped[stream] -= 1
            else:
                on_line(stream, text)

        spec = ProcSpec([], {}, "", outputs=list(outputs or ()))
        proc = SshProcess(self, spec, line, on_exit, d, boot.follow(d, 0, 0), (task, attempt))
        self._procs.add(proc)
        return proc

    async def settle(
        self, run_id: str, task: str, attempt: int, action: str
    ) -> tuple[str, str, str]:
        """A dead engine's attempt here, after a take-over (ssh_reap.settle)."""
        return await settle(self, run_id, task, attempt, action)

    def started_at(self, handle: Any) -> float | None:
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


REMOTE["ssh"] = SshExecutor
