"""The run directory removed while the run goes on: an attempt that may be adopted writes its
output into files there, which the engine read again by their path at each poll, so that every
line written after the removal was lost; the journal of spawns and the engine's log went on into
files no one could find again. Now the files are read from the descriptors opened first, the
journal and the log are made again with the directory (run/channel), and the log says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from phasegate.engine.exec.adopt import FileTail, Journal, files_for, private


def test_a_file_tail_reads_every_line_written_after_its_directory_was_removed(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "runs" / "r1"
    files = private(files_for(str(run_dir), "long", 1))
    tail = FileTail(files)
    # the task's wrapper opened its files once (`>>`) and writes into them to its end
    with open(files.out, "ab", buffering=0) as out, open(files.err, "ab", buffering=0) as err:
        out.write(b"one\ntw")
        assert tail.poll() == [("out", "one")]
        shutil.rmtree(run_dir)
        out.write(b"o\nthree\n")
        err.write(b"warned\n")
        assert tail.poll() == [("out", "two"), ("out", "three"), ("err", "warned")]
        out.write(b"four, unfinished")
    assert tail.poll(final=True) == [("out", "four, unfinished")]
    assert tail.poll(final=True) == []  # (its files closed: nothing read twice)


def test_the_journal_of_spawns_goes_on_in_the_run_directory_made_again(tmp_path: Path) -> None:
    run_dir = str(tmp_path / "runs" / "r1")
    journal = Journal(run_dir)
    journal.note("a", 1)
    shutil.rmtree(run_dir)
    os.makedirs(os.path.join(run_dir, "tasks"))  # (made again: run/channel, durable/rundir)
    journal.note("b", 1)
    journal.close()
    assert Journal.read(run_dir) == {"b": 1}  # what a take-over learns from now on


_ENGINE = """
import os, shutil, sys
from phasegate.engine.durable.rundir import restore
run_dir = sys.argv[1]
print("before", file=sys.stderr, flush=True)
shutil.rmtree(run_dir)
os.makedirs(run_dir, mode=0o700)  # (what the channel does as it binds its socket again)
restore(run_dir)
print("after", flush=True)
print("after, on stderr", file=sys.stderr, flush=True)
"""


def test_the_engines_log_is_made_again_with_its_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    log = run_dir / "engine.log"
    with open(log, "ab") as f:  # (as the client starts a detached engine: engine/client)
        done = subprocess.run(
            [sys.executable, "-c", _ENGINE, str(run_dir)], stdout=f, stderr=subprocess.STDOUT
        )
    assert done.returncode == 0
    said = log.read_text().splitlines()
    assert said[0] == (
        f"phasegate: the run directory {run_dir} was removed: engine.log made again "
        "(what it held is lost)"
    )
    assert said[1:] == ["after", "after, on stderr"]
    assert (log.stat().st_mode & 0o777, (run_dir / "tasks").is_dir()) == (0o600, True)
