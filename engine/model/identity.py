"""Who is acting: the OS user of this process (never a name a client claims), with context."""

from __future__ import annotations

import os
import pwd
import socket

import msgspec


class Identity(msgspec.Struct, frozen=True):
    user: str
    uid: int
    host: str
    tty: str = ""
    ssh: str = ""


def current_identity() -> Identity:
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        tty = os.ttyname(0)
    except OSError:
        tty = ""
    return Identity(user, uid, socket.gethostname(), tty, os.environ.get("SSH_CONNECTION", ""))
