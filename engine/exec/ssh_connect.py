"""Connections to an agent's host over SSH (asyncssh), and the check that a host answers.

The plan says everything: keys from the SSH agent, ~/.ssh or `ssh.identity`; the host's key
checked against `ssh.known_hosts` (default ~/.ssh/known_hosts), an unknown or changed key an error
naming the host and the file; no password or passphrase is ever asked, ~/.ssh/config is not read.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from typing import Any

from phasegate.engine.plan.model import SshOptions

with warnings.catch_warnings():  # (its DSA support warns on import with recent cryptography)
    warnings.simplefilter("ignore")
    import asyncssh as asyncssh  # (the one import of it: exec/ssh.py takes it from here)

_HOST = re.compile(r"^(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:]+)(?::(?P<port>\d+))?$")


class SshError(Exception):
    pass


def parse_host(key: str) -> tuple[str | None, str, int]:
    m = _HOST.match(key)
    if m is None:
        raise SshError(f"host '{key}' is not user@host[:port]")
    port = int(m["port"] or 22)
    if not 1 <= port <= 65535:
        raise SshError(f"host '{key}': port {port} is out of range (1 to 65535)")
    return m["user"], m["host"].strip("[]"), port


async def connect(key: str, opts: SshOptions) -> Any:
    """A connection to `key` (user@host[:port]) with the plan's options, or SshError saying
    why not (naming the host, and the known_hosts file for a host key it does not accept)."""
    user, host, port = parse_host(key)
    known = os.path.expanduser(opts.known_hosts or "~/.ssh/known_hosts")
    options: dict[str, Any] = {
        "port": port,
        "known_hosts": known,
        "config": None,
        "password_auth": False,
        "kbdint_auth": False,
        "gss_auth": False,
        "gss_kex": False,
        "passphrase": None,
        "ignore_encrypted": True,
        "connect_timeout": opts.connect_timeout,
        "login_timeout": opts.connect_timeout,
        "keepalive_interval": opts.keepalive,
        "keepalive_count_max": 3,
    }
    if user:
        options["username"] = user
    if opts.identity:
        options["client_keys"] = [os.path.expanduser(opts.identity)]
    if opts.jump:
        options["tunnel"] = opts.jump
    if not os.path.exists(known):
        raise SshError(f"cannot check {key}'s host key: no known_hosts file {known}")
    try:
        return await asyncssh.connect(host, **options)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise SshError(
            f"{key}: its host key is not in {known} or does not match it ({exc.reason}); "
            "refused (check the key, then add it with ssh-keyscan)"
        ) from None
    except asyncssh.PermissionDenied as exc:
        raise SshError(f"{key}: permission denied ({exc.reason}); no key was accepted") from None
    except Exception as exc:  # (not only OSError, asyncssh.Error, TimeoutError: a port or a
        # name getaddrinfo or the socket refuse raises OverflowError, ValueError, UnicodeError...)
        reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
        raise SshError(f"cannot connect to {key}: {reason}") from None


async def check_host(key: str, opts: SshOptions | None) -> tuple[float | None, str]:
    """(round trip in seconds, "") when the host answers `true`, else (None, why not)."""
    opts = opts or SshOptions()
    try:
        conn = await connect(key, opts)
    except SshError as exc:
        return None, str(exc)
    try:
        began = time.monotonic()
        done = await conn.run("true", check=False)
        rtt = time.monotonic() - began
        if done.exit_status != 0:
            return None, f"{key}: `true` exited {done.exit_status}"
        return rtt, ""
    except (OSError, asyncssh.Error) as exc:
        return None, f"{key}: {exc}"
    finally:
        conn.close()
