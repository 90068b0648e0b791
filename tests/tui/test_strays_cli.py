"""No process outlives its task (issue 16, point 8), with the real engine process: it is the
subreaper of its tasks' orphans (and reaps them without stealing a task's exit status), stops what
a task left outside its group when the task ends or the run is cancelled, and `doctor` names a
process that outlives its run."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .conftest import PHASEGATE, Run, show_last, until


def _marked(marker: str) -> list[psutil.Process]:
    """Live processes whose command line has `marker` (a unique argument, as `sleep 300.123`)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if marker in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found


def _unique(marker: str) -> str:
    """`marker` (as `300.131`, a `sleep` argument) made this test's alone: its processes are found
    by a scan of the whole machine, where other tests (on other pytest-xdist workers, or the other
    `listing` of the same test) run theirs at the same time."""
    return f"{marker}{uuid.uuid4().int % 10**6:06d}"


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Markers whose processes a failed test may leave."""
    markers: list[str] = []
    yield markers
    for marker in markers:
        for p in _marked(marker):
            p.kill()


@pytest.fixture(params=["kernel-lists", "proc-scan"])
def listing(request: pytest.FixtureRequest, cli_env: dict[str, str]) -> str:
    """Each test runs twice: with the kernel's lists of a process's children in /proc, and with
    the scan of every process's parent that kernels without CONFIG_PROC_CHILDREN (some sandboxes,
    a CI machine among them) rely on."""
    if request.param == "proc-scan":
        cli_env["PHASEGATE_PROC_SCAN"] = "1"
    return str(request.param)


def _setsid_child_plan(tmp_path: Path, mark: str) -> None:
    """plan.yaml: one task that starts `sleep MARK` in a session of its own and ends."""
    (tmp_path / "plan.yaml").write_text(
        "name: strays\nagents: {w: {}}\nphases:\n  - id: p\n    tasks:\n"
        f'      - {{id: t, run: "setsid sleep {mark} & echo x"}}\n'
    )


def test_a_headless_run_leaves_no_setsid_child_and_says_so(
    pg: Run, tmp_path: Path, cleanup: list[str], listing: str
) -> None:
    mark = _unique("300.131")
    cleanup.append(mark)
    _setsid_child_plan(tmp_path, mark)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    until("the setsid sleep to be gone", lambda: not _marked(mark))
    logs = pg("logs", "last", "t")
    assert "phasegate: stopped 1 process left behind (pid " in logs.stdout
    assert " sleep)" in logs.stdout


def _in_a_container() -> list[str]:
    """The argv prefix that runs a command as a container does: in a pid namespace of its own,
    its session's leader outside it (so getsid() is 0 there); skipped where that is refused."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc"]
    try:
        tried = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("no unshare here")
    if tried.returncode != 0:
        pytest.skip(f"no pid namespace here: {tried.stderr.decode().strip()}")
    return prefix


def test_a_headless_run_in_a_container_stops_its_setsid_child_too(
    pg: Run, tmp_path: Path, cleanup: list[str], cli_env: dict[str, str]
) -> None:
    mark = _unique("300.136")
    cleanup.append(mark)
    _setsid_child_plan(tmp_path, mark)
    # (under a shell that stays the namespace's init, as a container's does: an init that ends
    # takes the whole namespace with it)
    init = ["sh", "-c", '"$@"; exit $?', "sh"]
    done = subprocess.run(
        [*_in_a_container(), *init, PHASEGATE, "run", "plan.yaml", "--headless"],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    until("the setsid sleep to be gone", lambda: not _marked(mark))
    assert "stopped 1 process left behind" in pg("logs", "last", "t").stdout


KEEP = """
name: keep
kill_grace: 1s
agents: {w: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: kept, run: "setsid sleep 300.134 & echo x", keep_background: true}
      - {id: gone, run: "setsid sleep 300.135 & echo y"}
"""


def test_keep_background_keeps_only_its_own_task_s_processes(
    pg: Run, tmp_path: Path, cleanup: list[str], listing: str
) -> None:
    kept_mark, gone_mark = _unique("300.134"), _unique("300.135")
    cleanup += [kept_mark, gone_mark]
    plan = KEEP.replace("300.134", kept_mark).replace("300.135", gone_mark)
    (tmp_path / "plan.yaml").write_text(plan)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    until("the other task's sleep to be gone", lambda: not _marked(gone_mark))
    kept = _marked(kept_mark)
    assert [p.name() for p in kept] == ["sleep"]
    assert kept[0].environ()["PHASEGATE_TASK"] == "kept"
    assert "left behind" not in pg("logs", "last", "kept").stdout


CHURN = """
name: churn
kill_grace: 1s
agents: {w: {slots: 2}}
phases:
  - id: p
    tasks:
      # orphans that exit at once, while their task and another run on
      - id: churn
        run: "sh -c 'for i in 1 2 3 4 5 6 7 8; do (sleep 0.05 &); done; sleep 0.5; exit 3'"
        on_failure: continue
      - {id: hold, run: "sh -c '(setsid sleep 300.132 &); echo held; sleep 60'"}
"""


@pytest.mark.slow
def test_the_engine_inherits_orphans_reaps_them_and_cancel_stops_them(
    pg: Run, tmp_path: Path, cleanup: list[str], listing: str
) -> None:
    mark = _unique("300.132")
    cleanup.append(mark)
    (tmp_path / "plan.yaml").write_text(CHURN.replace("300.132", mark))
    started = pg("run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    engine = show_last(pg)["engine_pid"]
    assert isinstance(engine, int)
    # a double-forked child is the engine's, not init's
    until("the orphan sleep", lambda: bool(_marked(mark)))
    (orphan,) = _marked(mark)
    assert orphan.ppid() == engine

    def churn_done() -> bool:
        tasks = {t["id"]: t for t in show_last(pg)["tasks"]}  # type: ignore[attr-defined]
        return bool(tasks["churn"]["finished_at"])

    until("churn to end", churn_done)
    churn = {t["id"]: t for t in show_last(pg)["tasks"]}["churn"]  # type: ignore[attr-defined]
    # its exit status is its own: the reaper of orphans never took it
    assert churn["status"] == "failed" and churn["exit_code"] == 3, churn

    def zombies() -> list[int]:
        kids = psutil.Process(engine).children()
        return [k.pid for k in kids if k.status() == psutil.STATUS_ZOMBIE]

    until("the exited orphans to be reaped", lambda: not zombies(), seconds=5)
    stopped = pg("cancel", "last")
    assert stopped.returncode == 0, stopped.stderr
    assert show_last(pg)["status"] == "cancelled"
    until("the orphan of the cancelled task to be gone", lambda: not _marked(mark))


def test_doctor_names_a_process_that_outlives_its_run(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        'name: quick\nagents: {w: {}}\nphases: [{id: p, tasks: [{id: t, run: "true"}]}]\n'
    )
    assert pg("run", "plan.yaml", "--headless").returncode == 0
    run_id = show_last(pg)["id"]
    assert isinstance(run_id, str)
    clean = json.loads(pg("doctor", "--json").stdout)["checks"]
    assert {
        "check": "processes",
        "level": "ok",
        "detail": "no task process outlives its run",
    } in clean
    # as a task's daemon that escaped its engine would be: tagged, in a session of its own
    env = os.environ | {
        "PHASEGATE_RUN_ID": run_id,
        "PHASEGATE_TASK": "t",
        "PHASEGATE_ATTEMPT": "1",
    }
    mark = _unique("300.133")
    stray = subprocess.Popen(["sleep", mark], env=env, start_new_session=True)
    try:
        until("the stray to start", lambda: bool(_marked(mark)))
        checks = {c["check"]: c for c in json.loads(pg("doctor", "--json").stdout)["checks"]}
        found = checks[f"stray pid {stray.pid}"]
        assert found["level"] == "warn"
        assert f"run {run_id} has finished" in found["detail"]
        assert "task t (attempt 1)" in found["detail"]
        assert f"`sleep {mark}`" in found["detail"] and f"`kill {stray.pid}`" in found["detail"]
        shown = pg("doctor")
        assert shown.returncode == 0 and f"stray pid {stray.pid}" in shown.stdout
    finally:
        stray.kill()
        stray.wait()
