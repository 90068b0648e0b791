"""Bad input at the command line: bounded numbers, unknown names, conflicting flags, no
terminal, an empty --db, a reader that goes away; each a usage error (exit 2) that says what
is allowed, never a traceback, a hang or the exit 1 of a failed run (DECISIONS.md)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore

from .conftest import PHASEGATE, Run
from .helpers import _TAKEN, commands, live_run, run_started

HUGE = "99999999999999999999999"  # more than SQLite's 64-bit INTEGER

ONE = "name: one\nagents: {a: {}}\nphases: [{id: p, tasks: [{id: t, run: 'echo hi'}]}]\n"


def _recorded(pg: Run, tmp_path: Path) -> None:
    """One run that has ended, its task `t` printed `hi` in its one attempt."""
    (tmp_path / "one.yaml").write_text(ONE)
    done = pg("run", "one.yaml", "--headless")
    assert done.returncode == 0, done.stderr


def _usage(done: subprocess.CompletedProcess[str], *said: str) -> None:
    """Exit 2 with these words on stderr, and no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    for words in said:
        assert words in done.stderr, done.stderr


# bug 1: numbers without an upper bound reached SQLite (OverflowError, a traceback)


def test_a_huge_limit_is_a_usage_error_naming_the_range(pg: Run) -> None:
    _usage(pg("runs", "-n", HUGE), "Invalid value for '-n' / '--limit'", "1<=x<=1000000")
    _usage(pg("search", "x", "-n", HUGE), "Invalid value for '-n' / '--limit'", "1<=x<=1000000")
    assert pg("runs", "-n", "1000000").returncode == 0


def test_a_search_for_nothing_is_a_usage_error(pg: Run) -> None:
    """It said `nothing found for ''` and exit 0, as if the history had been searched."""
    _usage(pg("search", "  "), "give the words to search for")


def test_logs_of_an_attempt_the_run_did_not_make_is_exit_2(pg: Run, tmp_path: Path) -> None:
    _recorded(pg, tmp_path)
    _usage(pg("logs", "last", "t", "--attempt", "0"), "0 is not in the range x>=1")
    _usage(pg("logs", "last", "t", "--attempt", "-1"), "-1 is not in the range x>=1")
    _usage(pg("logs", "last", "t", "--attempt", "2"), "has no attempt 2; its attempts: 1")
    _usage(pg("logs", "last", "--attempt", HUGE), f"has no attempt {HUGE}; its attempts: 1")
    shown = pg("logs", "last", "t", "--attempt", "1")
    assert shown.returncode == 0 and shown.stdout == "hi\n", shown.stderr


def test_gates_wait_takes_a_number_of_seconds(pg: Run) -> None:
    _usage(pg("gates", "--wait", "--timeout", "nan"), "nan is not a number of seconds")
    _usage(pg("gates", "--wait", "--timeout", "-1"), "-1.0 is not in the range x>=0")


# bugs 2 and 8: live runs (this test process is the engine: helpers.live_run)


def _started() -> ev.RunStarted:
    return run_started(
        time.time(),
        "inputs",
        ["t"],
        agent="a",
        gates=[{"id": "review", "after": "p", "approval": "manual", "quorum": 1}],
    )


async def _pg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`phasegate ARGS` while this process's loop serves the live run's socket."""
    proc = await asyncio.create_subprocess_exec(
        PHASEGATE,
        *args,
        env=env,
        cwd=Path(env["PHASEGATE_DB"]).parents[1],  # (the test's tmp_path)
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


@pytest.fixture
async def live(cli_env: dict[str, str]) -> str:
    return await live_run(cli_env["PHASEGATE_DB"], "inputs", [_started()])


UNKNOWN = [
    (("approve", "inputs", "nosuch"), "has no gate 'nosuch'; its gates: review"),
    (("reject", "inputs", "nosuch", "--reason", "x"), "has no gate 'nosuch'; its gates: review"),
    (("cancel", "inputs", "--task", "nosuch"), "has no task 'nosuch'; its tasks: t"),
    (("skip", "inputs", "nosuch", "--reason", "x"), "has no task 'nosuch'; its tasks: t"),
    (("retry", "inputs", "nosuch"), "has no task 'nosuch'; its tasks: t"),
    (("priority", "inputs", "nosuch", "-5"), "has no task 'nosuch'; its tasks: t"),
    (("slots", "inputs", "nosuch", "2"), "has no agent 'nosuch'; its agents: a"),
    (("pause", "inputs", "--phase", "nosuch"), "has no phase 'nosuch'; its phases: p"),
    (("resume", "inputs", "--phase", "nosuch"), "has no phase 'nosuch'; its phases: p"),
]


async def test_an_unknown_name_is_exit_2_and_only_a_gate_decision_is_sent(
    live: str, cli_env: dict[str, str]
) -> None:
    db = cli_env["PHASEGATE_DB"]
    for args, said in UNKNOWN:
        done = await _pg(cli_env, *args)
        _usage(done, f"phasegate: run {live} {said}")
        assert "refused" not in done.stderr  # (exit 1 and `refused:` are for policy)
    asked = await _pg(cli_env, "feedback", live, "--answer", "nope=x")
    _usage(asked, "phasegate: unknown question 'nope': run inputs asks rating, comment")
    # (a decision on a gate the run lacks is sent all the same: the engine's refusal is the
    # audit's row of who tried what; the other names are the command line's alone)
    assert await commands(db, live) == [
        ("approve", {"gate": "nosuch"}),
        ("reject", {"gate": "nosuch", "reason": "x"}),
    ]


EMPTY = [
    (("note", "inputs", ""), "a note needs text"),
    (("note", "inputs", "   "), "a note needs text"),
    (("feedback", "inputs"), "no answer given: give --rating N (1-5), --comment TEXT"),
    (("skip", "inputs", "t", "--reason", ""), "a skip needs a reason: --reason TEXT"),
    (("skip", "inputs", "t", "--reason", "  "), "a skip needs a reason: --reason TEXT"),
    (("cancel", "inputs", "--task", ""), "an empty name"),  # (was: cancel the whole run)
    (("pause", "inputs", "--phase", ""), "an empty name"),  # (was: pause the whole run)
    # (one of the two was dropped without a word)
    (("feedback", "inputs", "--rating", "5", "--answer", "rating=3"), "both give the rating"),
]


async def test_an_empty_text_reason_or_answer_is_exit_2(live: str, cli_env: dict[str, str]) -> None:
    for args, said in EMPTY:
        _usage(await _pg(cli_env, *args), said)
    assert await commands(cli_env["PHASEGATE_DB"], live) == []


async def test_slots_and_priority_are_bounded(live: str, cli_env: dict[str, str]) -> None:
    _usage(await _pg(cli_env, "slots", live, "a", HUGE), "1<=x<=1024")
    _usage(await _pg(cli_env, "slots", live, "a", "0"), "1<=x<=1024")
    _usage(await _pg(cli_env, "priority", live, "t", HUGE), "-1000000<=x<=1000000")
    _usage(await _pg(cli_env, "priority", live, "t", "-" + HUGE), "-1000000<=x<=1000000")
    assert await commands(cli_env["PHASEGATE_DB"], live) == []


def test_the_slots_bound_is_the_plans() -> None:
    from phasegate.engine.plan.model import Agent
    from phasegate.engine.plan.shape import fields, strip
    from phasegate.tui.cli.common import MAX_SLOTS

    bounds = [m.le for m in strip(fields(Agent)["slots"])[1]]
    assert MAX_SLOTS in bounds


async def test_a_negative_priority_is_sent(live: str, cli_env: dict[str, str]) -> None:
    db = cli_env["PHASEGATE_DB"]
    proc = asyncio.create_task(_pg(cli_env, "priority", live, "t", "-5"))
    taken = _TAKEN.setdefault((db, live), [])
    deadline = time.monotonic() + 30
    while not taken:  # the command reaching the socket (served by this loop)
        assert time.monotonic() < deadline, "the priority command never reached the run"
        await asyncio.sleep(0.05)
    store = await SQLiteStore.open(db)
    try:  # the engine's answer
        answer = ev.CommandDone(time.time(), 1, "priority", "me", True, "task 't' has priority -5")
        await store.write_batch(live, [(2, answer)])
    finally:
        await store.close()
    done = await proc
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"run {live}: task 't' has priority -5\n"
    assert await commands(db, live) == [("priority", {"task": "t", "priority": -5})]


def test_priority_help_says_n_may_be_negative(pg: Run) -> None:
    shown = pg("priority", "--help")
    assert "Usage: phasegate priority [OPTIONS] RUN TASK N" in shown.stdout
    assert "a negative one lowers" in shown.stdout and "TASK -5" in shown.stdout


# bug 3: the dashboard without a terminal


@pytest.mark.parametrize(
    ("args", "instead"),
    [(("attach", "last"), "`phasegate show [RUN]`"), (("ui",), "`phasegate runs`")],
)
def test_the_dashboard_without_a_terminal_is_exit_2(
    pg: Run, args: tuple[str, ...], instead: str
) -> None:
    done = pg(*args, stdin=subprocess.DEVNULL, timeout=30)
    _usage(done, "needs a terminal", "stdin and stdout are not one", instead)
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1


# bug 4: an empty --db or PHASEGATE_DB


def test_an_empty_db_is_exit_2_not_the_default(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}

    def pg(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHASEGATE, *args],
            cwd=tmp_path,
            env={**env, **more},
            capture_output=True,
            text=True,
            timeout=60,
        )

    _usage(pg("runs", "--db", ""), "Invalid value for '--db': an empty path")
    _usage(pg("show", "--db", " "), "Invalid value for '--db': an empty path")
    _usage(pg("runs", PHASEGATE_DB=""), "PHASEGATE_DB is set but empty")
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


# bug 5: a reader that goes away (`phasegate logs | head -1`)


@pytest.mark.parametrize("args", [("logs", "last"), ("show", "last"), ("runs",), ("--help",)])
def test_a_closed_pipe_exits_0(
    pg: Run, tmp_path: Path, cli_env: dict[str, str], args: tuple[str, ...]
) -> None:
    _recorded(pg, tmp_path)
    read, write = os.pipe()
    os.close(read)  # (`head` has gone before the first line: every write fails with EPIPE)
    try:
        done = subprocess.run(
            [PHASEGATE, *args],
            cwd=tmp_path,
            env=cli_env,
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""


# bug 6: help and README agree


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("show", "[RUN]"),
        ("logs", "[RUN] [TASK]"),
        ("audit", "[RUN]"),
        ("risks", "[RUN]"),
        ("gates", "[RUN]"),
        ("attach", "[RUN]"),
        ("resume", "[RUN]"),
        ("report", "[RUN]"),
        ("diff", "RUN_A [RUN_B]"),
        ("doctor", "[PLAN]"),
    ],
)
def test_usage_shows_optional_arguments(pg: Run, command: str, usage: str) -> None:
    first = pg(command, "--help").stdout.splitlines()[0]
    assert first == f"Usage: phasegate {command} [OPTIONS] {usage}"


def test_readme_rows_match_the_usage_lines() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "| `phasegate doctor [PLAN] [--json]` |" in readme
    assert "| `phasegate diff RUN_A [RUN_B] [--all] [--json]` |" in readme


def test_top_level_help_names_refused_by_policy(pg: Run) -> None:
    text = " ".join(pg("--help").stdout.split())
    assert "1 the run failed, was rejected at a gate or timed out, or a command was" in text
    assert "refused by policy; 2 invalid plan, bad usage or unknown run" in text


# bug 7: conflicting flags


def test_detach_with_headless_is_exit_2(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(ONE)
    _usage(pg("run", "one.yaml", "--detach", "--headless"), "--detach and --headless conflict")
    _usage(pg("run", "one.yaml", "--detach", "-q"), "--detach and -q/--quiet conflict")
    assert "no runs yet" in pg("runs").stdout  # nothing was started


def test_report_of_a_run_and_a_plan_is_exit_2(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(ONE)
    done = pg("report", "last", "--plan", "one.yaml")
    _usage(done, "RUN (last) and --plan conflict")
    assert done.stdout == ""
    alone = pg("report", "--plan", "one.yaml")
    assert alone.returncode == 0 and re.search(r"one", alone.stdout), alone.stderr


def test_report_flags_a_plan_or_a_run_cannot_take_are_exit_2(pg: Run, tmp_path: Path) -> None:
    """A plan before it runs has only its coordination plan; a run's reports are of the values
    it ran with: neither ignores what it was asked (exit 0 with another report)."""
    (tmp_path / "one.yaml").write_text(ONE)
    for kind in ("qa", "performance", "lessons"):
        done = pg("report", "--plan", "one.yaml", "--kind", kind)
        _usage(done, f"--plan and --kind {kind} conflict")
        assert done.stdout == ""
    assert pg("report", "--plan", "one.yaml", "--kind", "coordination").returncode == 0
    assert pg("run", "one.yaml", "--headless", "-q").returncode == 0
    done = pg("report", "last", "--var", "x=1")
    _usage(done, "--var sets a variable of the plan given with --plan")
    assert done.stdout == ""


def test_resume_of_a_phase_with_take_over_flags_is_exit_2(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(ONE)
    assert pg("run", "one.yaml", "--headless", "-q").returncode == 0
    for flag in (["--decide", "t=rerun"], ["--headless"], ["-q"]):
        done = pg("resume", "last", "--phase", "p", *flag)
        _usage(done, f"--phase and {flag[0]} conflict", "taking over a run whose engine died")


def test_the_priority_and_slots_commands_bounds_are_the_plans() -> None:
    # (written out in the command line's module: `--help` does not import the engine's model)
    from phasegate.engine.model.commands import MAX_PRIORITY, MAX_SLOTS
    from phasegate.tui.cli import common

    assert (common.MAX_PRIORITY, common.MAX_SLOTS) == (MAX_PRIORITY, MAX_SLOTS)
