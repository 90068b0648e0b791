"""Where a run's files live: `<data dir>/runs/<run id>/`, beside the database, created 0700
whatever the umask (2750 with the group when the run is shared); the run's socket; and the
check that the files the engine writes are its user's alone."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import sys

from phasegate.engine.model.errors import DatabaseUnusable, UsageError


def file_id(path: str) -> tuple[int, int] | None:
    """The (device, inode) that `path` names now, or None when it names nothing: a file (a
    database, a socket) found at its path again is the one opened there only if this holds."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def new_run_id() -> str:
    return os.urandom(4).hex()


def run_dir(db_path: str, run_id: str) -> str:
    path = os.path.join(os.path.dirname(os.path.abspath(db_path)), "runs", run_id)
    private_dirs(path)
    return path


def private_dirs(path: str) -> None:
    """Make `path` and its missing parents, each 0700 whatever the umask (makedirs gives the
    mode to the last one only, and applies the umask to it)."""
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)


def check_private(db_path: str) -> None:
    """The engine writes only a database that is its user's alone: owned by this user, and
    neither it nor its directory (unless sticky, as /tmp) writable by anyone else, so that no
    one can swap in a database of theirs; and both writable by this user. StoreError says what
    to fix."""
    me = os.geteuid()
    for path, what in ((os.path.dirname(os.path.abspath(db_path)), "directory"), (db_path, "file")):
        try:
            found = os.stat(path)
        except FileNotFoundError:
            continue
        if found.st_uid != me:
            raise DatabaseUnusable(
                f"the database {what} {path} belongs to uid {found.st_uid}, not to you "
                f"(uid {me}); the engine writes only its own: choose another with --db"
            )
        writable = found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        # (a sticky directory such as /tmp lets nobody else rename or remove our file)
        if writable and not (what == "directory" and found.st_mode & stat.S_ISVTX):
            mode = stat.S_IMODE(found.st_mode)
            raise DatabaseUnusable(
                f"the database {what} {path} is writable by others (mode {mode:o}); "
                f"make it yours alone (chmod go-w {path}) or choose another with --db"
            )
        # (read commands open such a database read-only; a run must write it, and its log
        # beside it: refused here, before anything of the run is made)
        if not os.access(path, os.W_OK):
            mode = stat.S_IMODE(found.st_mode)
            writes = "the database's log there" if what == "directory" else "it"
            raise DatabaseUnusable(
                f"the database {what} {path} is read-only to you (mode {mode:o}), and a run "
                f"writes {writes}; make it writable (chmod u+w {path}) or choose another "
                "with --db"
            )


SOCKET = "engine.sock"  # the run's door: commands reach its engine through it


def run_path(db_path: str, run_id: str) -> str:
    """The run's directory, as run_dir() makes it, without making it."""
    return os.path.join(os.path.dirname(os.path.abspath(db_path)), "runs", run_id)


def socket_path(run_directory: str) -> str:
    return os.path.join(run_directory, SOCKET)


def bindable(path: str) -> tuple[str, int | None]:
    """A name for the Unix socket at `path` that fits the kernel's 108 bytes: the path itself,
    or its name under /proc/self/fd/N of its directory opened O_PATH (the fd is returned, to
    close once bound or connected)."""
    if len(os.fsencode(path)) < 100:
        return path, None
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def share_group(name: str) -> int:
    """The id of OS group `name`, which this user must be in to share a run with it."""
    try:
        group = grp.getgrnam(name)
    except KeyError:
        raise UsageError(
            f"there is no group '{name}' on this machine; --share takes one of your groups "
            f"({', '.join(_my_groups())})"
        ) from None
    if os.geteuid() != 0 and group.gr_gid not in {os.getegid(), *os.getgroups()}:
        raise UsageError(
            f"you are not in group '{name}', so you cannot share a run with it; "
            f"your groups: {', '.join(_my_groups())}"
        )
    return group.gr_gid


def _my_groups() -> list[str]:
    names = []
    for gid in dict.fromkeys([os.getegid(), *os.getgroups()]):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            names.append(str(gid))
    return names


def user_name(uid: int) -> str:
    """The user's name, else the uid as a number."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """The group's name, else the gid as a number."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def denied_by(path: str) -> str:
    """Why this user may not read `path`: `permission denied (...)` naming what stops them,
    the first directory on the way they may not enter, or the file, with its owner and the
    group it is shared with (one they are not in), if any."""
    path = os.path.abspath(path)
    node, parts = "/", path.strip("/").split("/")
    for part in parts[:-1]:
        node = os.path.join(node, part)
        if not os.access(node, os.X_OK):
            break
    else:
        node = path
    try:
        found = os.stat(node)
    except OSError:
        return "permission denied"
    what = "it" if node == path else f"its directory {node}"
    mode = stat.S_IMODE(found.st_mode)
    group_may = mode & (0o010 if stat.S_ISDIR(found.st_mode) else 0o040)
    if group_may and found.st_gid not in {os.getegid(), *os.getgroups()}:
        return (
            f"permission denied ({what} is shared with group {group_name(found.st_gid)}, which you "
            f"are not in; owned by {user_name(found.st_uid)})"
        )
    return f"permission denied ({what} is owned by {user_name(found.st_uid)}, mode {mode:o})"


def check_reachable(db_path: str, gid: int) -> None:
    """UsageError unless the members of group `gid` can reach the database's directory: each
    directory above it lets them through (x for others, or for the group when it is the
    directory's group). `share` opens the data directory and the run's; nothing above them
    is changed, and a directory still to be made would be made 0700 (private_dirs), so a run
    shared there could never be reached: refused before it starts. So is a data directory
    that `share` could open only by taking access from its present group."""
    name, data = group_name(gid), os.path.dirname(os.path.abspath(db_path))
    above: list[str] = []
    directory = data
    while os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
        above.append(directory)
    fix = (
        f"choose a database the group can reach (--db /srv/{name}/phasegate.db, in a "
        f"directory of group {name}, say)"
    )
    for directory in reversed(above):  # (the data directory itself: `share` opens it)
        try:
            found = os.stat(directory)
        except FileNotFoundError:
            raise UsageError(
                f"group {name} could never reach this shared run: {directory} does not exist, "
                f"and phasegate would make it private (0700); make it first "
                f"(mkdir -m 755 {directory}) or {fix}; nothing was run"
            ) from None
        mode = stat.S_IMODE(found.st_mode)
        if mode & 0o001 or (found.st_gid == gid and mode & 0o010):
            continue
        raise UsageError(
            f"group {name} could never reach this shared run: the directory {directory} "
            f"(owner {user_name(found.st_uid)}, group {group_name(found.st_gid)}, "
            f"mode {mode:o}) does not let its members through; {fix}, or open it "
            f"(chmod o+x {directory}, or "
            f"chgrp {name} {directory} && chmod g+x {directory}); nothing was run"
        )
    for directory in (data, os.path.join(data, "runs")):  # (what `share` would open)
        try:
            found = os.stat(directory)
        except FileNotFoundError:
            continue  # (to be made by phasegate, 0700: opened to the group alone)
        if _grants(found, gid) or not _shuts_out(found, gid):
            continue
        mode, was = stat.S_IMODE(found.st_mode), group_name(found.st_gid)
        own = os.path.join(os.path.dirname(data), f"{os.path.basename(data)}-{name}")
        raise UsageError(
            f"sharing with group {name} would shut group {was} out of {directory} (owner "
            f"{user_name(found.st_uid)}, group {was}, mode {mode:o}), and phasegate takes no "
            f"access away from a directory; give the run a data directory of its own, which "
            f"phasegate makes and opens to {name} alone (--db {own}/phasegate.db), or let "
            f"{name} in yourself (chmod o+rx {directory}); nothing was run"
        )


def share(db_path: str, run_directory: str, gid: int) -> list[str]:
    """Open a run to group `gid`: its directory (and the data directory above it) 2750, so the
    group reaches the socket; the database 0640, readable by the group and written by this
    user alone. A directory that grants the group access already (its group's r-x, or the
    others' r-x) is kept as it is; any other gets only what the group needs added (its group,
    g+rx, setgid), never anything taken away (check_reachable refuses a directory that would
    lose a group). UsageError when the group cannot reach the data directory. Returns what was
    changed in the data directory, or another one phasegate did not make (one line each), and
    says it on stderr."""
    check_reachable(db_path, gid)
    data = os.path.dirname(os.path.abspath(db_path))
    changed: list[str] = []
    for directory in (data, os.path.join(data, "runs"), run_directory):
        found = os.stat(directory)
        if _grants(found, gid):
            continue
        before = stat.S_IMODE(found.st_mode)
        os.chown(directory, -1, gid)
        # (setgid: files made here later are the group's too; nothing is taken away)
        os.chmod(directory, before | stat.S_ISGID | 0o050)
        # (runs/ 0700 and the run's directory: as phasegate makes them)
        if directory == data or (directory != run_directory and before != 0o700):
            after = os.stat(directory)
            changed.append(
                f"phasegate: opened {directory} to group {group_name(gid)} for the shared run: "
                f"it was {before:o} {user_name(found.st_uid)}:{group_name(found.st_gid)}, it is "
                f"{stat.S_IMODE(after.st_mode):o} {user_name(after.st_uid)}:"
                f"{group_name(after.st_gid)}"
            )
    for path in (db_path, f"{db_path}-wal", f"{db_path}-shm"):
        if os.path.exists(path):
            os.chown(path, -1, gid)
            os.chmod(path, 0o640)
    if changed:
        print("\n".join(changed), file=sys.stderr, flush=True)
    return changed


def _grants(found: os.stat_result, gid: int) -> bool:
    """Whether a directory lets the members of group `gid` in (list and pass) as it is: r-x
    for its group when that is `gid`, or r-x for others."""
    mode = stat.S_IMODE(found.st_mode)
    return (found.st_gid == gid and mode & 0o050 == 0o050) or mode & 0o005 == 0o005


def _shuts_out(found: os.stat_result, gid: int) -> bool:
    """Whether giving a directory to group `gid` would take from its present group what it
    may do there now (what its group may do beyond what everyone may)."""
    mode = stat.S_IMODE(found.st_mode)
    return found.st_gid != gid and bool((mode >> 3) & 0o7 & ~mode)


def shared_with(run_directory: str) -> int | None:
    """The group a run was shared with (its directory's), or None for a private run."""
    try:
        found = os.stat(run_directory)
    except OSError:
        return None
    return found.st_gid if found.st_mode & 0o050 == 0o050 else None
