"""The run's door: a Unix socket in the run directory (`engine.sock`) through which front ends
send their commands to the engine, one JSON line per connection.

Who sent a command is what the kernel says of the peer (SO_PEERCRED: its uid), never a name
the client wrote; the engine alone writes the decision, the refusal and the answer, with that
uid. Nothing written into the database is taken as a command. The socket is 0600 (0660 with
the run's group when the run is shared); whoever reaches it is still judged by the plan's
roles and each gate's approvers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import socket
import stat
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from phasegate.engine.durable.rundir import restore
from phasegate.engine.model.identity import Identity
from phasegate.engine.store.paths import bindable, file_id, private_dirs

MAX_REQUEST = 256 * 1024  # bytes of one command
READ_TIMEOUT = 10.0  # a client that connects and says nothing is dropped after this
WATCH_EVERY = 1.0  # seconds between two looks at the socket's path (is it still there?)
STORED_WAIT = 5.0  # seconds an answer waits for its command's record to be written, at most
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

# (kind, args, who) -> the answer sent back: {"id": N} or {"error": why}
Take = Callable[[str, dict[str, Any], Identity], dict[str, Any]]


def peer(sock: socket.socket, claimed: dict[str, Any]) -> Identity:
    """The OS user at the other end of a connected Unix socket, with the context (tty, ssh
    connection) its client gave, which only describes the session."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    _pid, uid, _gid = _CRED.unpack(raw)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    tty, ssh = (str(claimed.get(k, ""))[:200] for k in ("tty", "ssh"))
    return Identity(user, uid, socket.gethostname(), tty, ssh)


class Channel:
    """Serves the run's socket while the engine holds the run."""

    def __init__(
        self,
        path: str,
        take: Take,
        group: int | None = None,
        stored: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`stored`: returns once what has been emitted is in the database; a command is
        answered after that, so that what its sender is told survives the engine's death (a
        skip answered, then lost with the batch in the kill -9 that followed, ran the task
        again on the take-over)."""
        self.path, self._take, self._group, self._stored = path, take, group, stored
        self._server: asyncio.AbstractServer | None = None
        self._serving: set[asyncio.Task[Any]] = set()  # connections being answered
        self._bound: tuple[int, int] | None = None  # (device, inode) of the socket bound
        self._watch: asyncio.TimerHandle | None = None
        self._rebinding: asyncio.Future[None] | None = None
        self._told = False  # that the socket could not be made again

    async def open(self) -> None:
        """Bind the socket (a stale one of a dead engine is replaced: this engine holds the
        lease), then give it its mode; from then on, see once a second that it is still there."""
        self._server = await self._listen()
        self._watch = asyncio.get_running_loop().call_later(WATCH_EVERY, self._check)

    async def _listen(self) -> asyncio.AbstractServer:
        """A server on a socket bound now (`_bind`)."""
        sock = self._bind()
        try:
            return await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST)
        except BaseException:
            sock.close()
            raise

    def _bind(self) -> socket.socket:
        """A socket bound at the path, in its directory (made if missing), with its mode."""
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)
        self._make_dirs()
        name, fd = bindable(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # never reachable by others, even for a moment; and no await before the umask is
        # restored, so that no task spawned meanwhile inherits it
        old = os.umask(0o177)
        try:
            sock.bind(name)
            if self._group is not None:
                os.chown(self.path, -1, self._group)
                os.chmod(self.path, 0o660)
            self._bound = file_id(self.path)
        except BaseException:
            sock.close()
            raise
        finally:
            os.umask(old)
            if fd is not None:
                os.close(fd)
        return sock

    def _make_dirs(self) -> None:
        """The run directory and any parent missing, as the run's start made them: 0700, or
        2750 with the run's group when the run is shared (store/paths.py: share)."""
        missing, directory = [], os.path.dirname(self.path)
        while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
            missing.append(directory)
            directory = os.path.dirname(directory)
        private_dirs(os.path.dirname(self.path))
        if self._group is not None:
            for made in missing:
                os.chown(made, -1, self._group)
                os.chmod(made, 0o2750)

    def _check(self) -> None:
        """Is the socket still at its path? Removed (the run directory deleted, say), no front
        end could reach the engine: it is bound again, in a directory made again."""
        if self._rebinding is None and file_id(self.path) != self._bound:
            self._rebinding = asyncio.ensure_future(self._rebind())
        self._watch = asyncio.get_running_loop().call_later(WATCH_EVERY, self._check)

    async def _rebind(self) -> None:
        try:
            server = await self._listen()
        except OSError as exc:  # (tried again at the next check; said once)
            if not self._told:
                _say(f"the run's socket {self.path} is gone and cannot be made again: {exc}")
            self._told = True
            return
        finally:
            self._rebinding = None
        before, self._server, self._told = self._server, server, False
        if before is not None:  # (no new connection; the ones taken are still answered)
            before.close()
        restore(os.path.dirname(self.path), self._group)  # (its log, its tasks' directory)
        _say(f"the run's socket {self.path} was gone (its directory removed?): made again")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._rebinding is not None:  # (its server is then the one to close)
            await self._rebinding
        if self._server is None:
            return
        self._server.close()  # no new connection; the ones taken are answered first
        if self._serving:
            await asyncio.wait(set(self._serving), timeout=READ_TIMEOUT)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None
        if file_id(self.path) == self._bound:  # (ours: not whatever took its place)
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:
            self._serving.add(me)
            me.add_done_callback(self._serving.discard)
        try:
            answer = await self._answer(reader, writer)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, OSError):
            pass  # the client went away: it was told nothing, and nothing was done
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
        except (asyncio.LimitOverrunError, ValueError):
            return {"error": f"a command is at most {MAX_REQUEST} bytes"}
        try:
            request = json.loads(line)
            kind, args = request["kind"], request.get("args", {})
            if not isinstance(kind, str) or not isinstance(args, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return {"error": "not a command: one JSON object {kind, args} per connection"}
        context = request.get("context")
        who = peer(writer.get_extra_info("socket"), context if isinstance(context, dict) else {})
        answer = self._take(kind, args, who)
        if self._stored is not None and "id" in answer:
            try:  # (a database another process keeps locked: answered after STORED_WAIT, its
                # record written once the lock goes, as the rest of the run's)
                await asyncio.wait_for(asyncio.shield(self._stored()), STORED_WAIT)
            except TimeoutError:
                pass
            except Exception as exc:  # (the run stops on it, and says so)
                return {"unrecorded": f"the run's database failed ({exc}): the run stops"}
        return answer


def _say(text: str) -> None:
    """A line in the engine's log (its stderr)."""
    with contextlib.suppress(OSError):
        print(f"phasegate: {text}", file=sys.stderr, flush=True)
