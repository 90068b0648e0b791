"""Secrets through a run, from the command line (issue 22): canary keys declared by environment
variable and by file, printed by tasks plainly, in JSON and split across lines; afterwards the
database, its WAL, the run directory and every report hold none of them, byte for byte."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from phasegate.engine.durable.recovery import processes_by_run

from ..engine.test_secrets import canaries, rand
from .conftest import Run
from .conftest import show_last as _show
from .conftest import until as _until

FROM_FILE = "FILE_KEY"  # the canary kept in a file; the others come from the environment


def _plan(names: list[str]) -> str:
    declared = "".join(f"  {n}: {{env: CANARY_{n}}}\n" for n in names if n != FROM_FILE)
    return f"""\
name: secrets
secrets:
{declared}  {FROM_FILE}: {{file: secret.key}}
agents:
  w: {{secrets: [{names[0]}]}}
phases:
  - id: one
    tasks:
      - {{id: show, run: sh show.sh, secrets: [{", ".join(names)}]}}
      - {{id: half, run: sh half.sh, secrets: [{FROM_FILE}]}}
      - {{id: other, run: sh other.sh}}
"""


def _scripts(tmp_path: Path, names: list[str]) -> None:
    """What the tasks run: every secret printed plainly and in JSON, then keys of known shapes
    that no plan declares; one secret cut in two lines; a task without secrets looking."""
    show = "".join(f'echo "plain ${n}"\nprintf \'{{"key": "%s"}}\\n\' "${n}"\n' for n in names)
    (tmp_path / "show.sh").write_text(show + "cat undeclared.txt\n")
    (tmp_path / "half.sh").write_text(f'printf "%s\\n" "${FROM_FILE}" | fold -w 12\n')
    (tmp_path / "other.sh").write_text(f'echo "other sees [${names[1]}]"\n')


@pytest.fixture
def canary(tmp_path: Path, cli_env: dict[str, str]) -> dict[str, str]:
    """Canaries of every shape: all but one in the environment, that one in a 0600 file."""
    found = canaries()
    found[FROM_FILE] = found.pop("RANDOM")
    for name, value in found.items():
        if name != FROM_FILE:
            cli_env[f"CANARY_{name}"] = value
    key = tmp_path / "secret.key"
    key.write_text(found[FROM_FILE] + "\n")
    os.chmod(key, 0o600)
    return found


def _everything(tmp_path: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file phasegate wrote: the database, its WAL and shm, the run directory, reports."""
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def test_canaries_never_reach_the_database_the_run_directory_or_a_report(
    pg: Run, tmp_path: Path, canary: dict[str, str]
) -> None:
    names = sorted(canary)
    (tmp_path / "plan.yaml").write_text(_plan(names))
    _scripts(tmp_path, names)
    undeclared = {k: v for k, v in canaries().items() if k != "RANDOM"}  # known shapes, new
    (tmp_path / "undeclared.txt").write_text("".join(f"{v}\n" for v in undeclared.values()))
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stdout + done.stderr
    for fmt in ("md", "html", "json"):
        assert pg("report", "last", "--format", fmt).returncode == 0
    logs = pg("logs", "last")
    assert logs.returncode == 0, logs.stderr
    for name in names:
        assert f"show | plain «{name}»" in logs.stdout
        assert f'show | {{"key": "«{name}»"}}' in logs.stdout
    assert "show | «redacted»" in logs.stdout  # the undeclared keys, by their shape
    assert "other sees []" in logs.stdout  # a task that does not name a secret has none
    files = dict(_everything(tmp_path))  # (the WAL is searched after a kill -9, below)
    assert tmp_path / "data" / "phasegate.db" in files
    assert any(p.name.startswith("report") for p in files)
    printed = (done.stdout + done.stderr + logs.stdout + logs.stderr).encode()
    for value in [*canary.values(), *undeclared.values()]:
        for path, data in [*files.items(), (Path("<printed>"), printed)]:
            assert value.encode() not in data, f"a canary is in {path}"
    # a value printed across several lines (fold -w 12) is replaced in every piece: no piece
    # of it is kept, and each line it touched says whose it was
    half = [line for line in logs.stdout.splitlines() if line.startswith("half |")]
    secret = canary[FROM_FILE]
    pieces = [secret[i : i + 12] for i in range(0, len(secret), 12)]
    assert half and all(f"«{FROM_FILE}»" in line for line in half), half
    for piece in pieces:
        for path, data in files.items():
            assert piece.encode() not in data, f"a piece of a canary is in {path}"


def test_a_note_and_feedback_after_the_run_s_end_are_redacted_as_the_engine_does(
    pg: Run, tmp_path: Path, canary: dict[str, str]
) -> None:
    # (after its end no engine writes for the run: the command line wrote them as typed, so a
    # key pasted into a note reached the database, the reports and the search index)
    names = sorted(canary)
    (tmp_path / "plan.yaml").write_text(_plan(names) + "feedback: {at: end}\n")
    _scripts(tmp_path, names)
    (tmp_path / "undeclared.txt").write_text("")
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    shape = canaries()["ANTHROPIC"]  # a key of a known shape, declared nowhere
    typed = f"{canary[FROM_FILE]} {canary[names[0]]} {shape}"
    noted = pg("note", "last", f"pasted {typed}")
    assert noted.returncode == 0, noted.stderr
    given = pg("feedback", "last", "--rating", "3", "--comment", f"oops {typed}")
    assert given.returncode == 0, given.stderr
    assert f"oops «{FROM_FILE}» «{names[0]}» «redacted»" in given.stdout
    lessons = pg("report", "last", "--kind", "lessons").stdout
    assert f"pasted «{FROM_FILE}» «{names[0]}» «redacted»" in lessons.replace("\\", "")
    found = pg("search", "pasted").stdout + pg("show", "last").stdout
    printed = (noted.stdout + given.stdout + lessons + found).encode()
    for value in (canary[FROM_FILE], canary[names[0]], shape):
        for path, data in [*_everything(tmp_path), (Path("<printed>"), printed)]:
            assert value.encode() not in data, f"a canary is in {path}"


def test_a_missing_secret_stops_the_run_and_is_a_warning_for_validate_and_plan(
    pg: Run, tmp_path: Path, canary: dict[str, str], cli_env: dict[str, str]
) -> None:
    """A run refuses to start without its secrets, naming each; `validate` and the dry run
    check the plan on a machine that may not hold the keys (CI, an editor): a warning each."""
    names = sorted(canary)
    (tmp_path / "plan.yaml").write_text(_plan(names))
    del cli_env["CANARY_AWS"]
    os.chmod(tmp_path / "secret.key", 0o644)
    for command, code, said in (
        (("validate",), 0, "warning: "),
        (("plan",), 0, "warning: "),
        (("doctor",), 0, "warning: "),  # (its other checks made: "database ..." below)
        (("run", "--headless"), 2, ""),
    ):
        done = pg(*command[:1], "plan.yaml", *command[1:])
        assert done.returncode == code, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert (
            f"secrets.AWS.env: {said}secret AWS: environment variable CANARY_AWS is not set"
            in done.stderr
        )
        assert f"secrets.{FROM_FILE}.file: {said}secret {FROM_FILE}:" in done.stderr
        assert "is 644: other users may read it" in done.stderr
        if command == ("doctor",):
            assert done.stdout.startswith("database "), done.stdout
    assert "nothing was run" in done.stderr
    assert not (tmp_path / "data" / "runs").exists() or not any(
        (tmp_path / "data" / "runs").iterdir()
    )


def test_a_secret_named_but_not_declared_and_a_literal_key_are_placed_on_their_line(
    pg: Run, tmp_path: Path
) -> None:
    key = "ghp_" + rand(36)
    (tmp_path / "plan.yaml").write_text(
        "name: s\n"
        "agents: {w: {}}\n"
        "phases:\n"
        "  - id: p\n"
        "    tasks:\n"
        "      - id: t\n"
        "        run: 'true'\n"
        "        env:\n"
        f"          GH_TOKEN: {key}\n"
    )
    warned = pg("validate", "plan.yaml")
    assert warned.returncode == 0, warned.stderr
    assert warned.stdout.strip() == "plan.yaml: ok (1 warning)"
    assert "plan.yaml:9: phases[0].tasks[0].env.GH_TOKEN: warning: this value looks like a " in (
        warned.stderr
    )
    assert "GH_TOKEN: {env: GH_TOKEN}" in warned.stderr and key not in warned.stderr
    # the run goes on, and what it keeps of the plan has the key redacted
    assert pg("run", "plan.yaml", "--headless").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "phasegate.db") as conn:
        (text,) = conn.execute("SELECT text FROM run_plans").fetchone()
    assert key not in text and "GH_TOKEN: «redacted»" in text
    (tmp_path / "plan.yaml").write_text(
        "name: s\nagents: {w: {}}\nphases:\n  - id: p\n    tasks:\n      - id: t\n"
        "        run: 'true'\n        secrets: [NOPE]\n"
    )
    refused = pg("validate", "plan.yaml")
    assert refused.returncode == 2
    assert "plan.yaml:8: phases[0].tasks[0].secrets[0]: secret 'NOPE' is not declared" in (
        refused.stderr
    )


def test_doctor_finds_a_key_left_in_a_database_and_shows_only_its_redacted_form(
    pg: Run, tmp_path: Path
) -> None:
    (tmp_path / "plan.yaml").write_text(
        "name: s\nagents: {w: {}}\nphases:\n  - {id: p, tasks: [{id: t, run: 'echo hi'}]}\n"
    )
    assert pg("run", "plan.yaml", "--headless").returncode == 0
    clean = pg("doctor")
    assert "nothing of a key shape" in clean.stdout, clean.stdout
    key = "AKIA" + rand(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    with sqlite3.connect(tmp_path / "data" / "phasegate.db") as conn:  # as an older version did
        run_id, ts = conn.execute("SELECT run_id, ts FROM output").fetchone()
        conn.execute(
            "INSERT INTO output (run_id, task, attempt, line, stream, text, ts) "
            "VALUES (?, 't', 1, 2, 'stdout', ?, ?)",
            (run_id, f"aws key={key} leaked", ts),
        )
    found = pg("doctor")
    assert key not in found.stdout + found.stderr
    assert f"run {run_id}, output t#1 line 2: AWS access key id: aws key=«redacted» leaked" in (
        found.stdout
    )


def test_doctor_takes_no_task_name_of_the_run_for_a_key(pg: Run, tmp_path: Path) -> None:
    # regression: `...-task-name-that-goes-on...` holds `sk-` and twenty more characters:
    # the run kept it (a name of its plan), and doctor called it a leaked OpenAI key
    name = "a-very-long-task-name-that-goes-on-and-on"
    (tmp_path / "plan.yaml").write_text(
        "name: s\nagents: {w: {}}\nphases:\n"
        f"  - {{id: p, tasks: [{{id: {name}, run: 'echo {name}'}}]}}\n"
    )
    assert pg("run", "plan.yaml", "--headless").returncode == 0
    found = pg("doctor")
    assert "nothing of a key shape" in found.stdout, found.stdout
    # a key of that shape in the same run's output, within no name of its plan, is found
    key = "sk-" + rand(24, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    with sqlite3.connect(tmp_path / "data" / "phasegate.db") as conn:  # as an older version did
        run_id, ts = conn.execute("SELECT run_id, ts FROM output").fetchone()
        conn.execute(
            "INSERT INTO output (run_id, task, attempt, line, stream, text, ts) "
            "VALUES (?, ?, 1, 2, 'stdout', ?, ?)",
            (run_id, name, f"{name} {key}", ts),
        )
    found = pg("doctor").stdout
    assert key not in found
    line = next(x for x in found.splitlines() if f"output {name}#1 line 2" in x)
    assert line.endswith("OpenAI-style API key: …task-name-that-goes-on-and-on «redacted»"), line


@pytest.fixture
def _reap(cli_env: dict[str, str]) -> Iterator[None]:
    """A test that fails half-way leaves no task process of its runs behind."""
    yield
    db = cli_env["PHASEGATE_DB"]
    if not os.path.exists(db):
        return
    with sqlite3.connect(db) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM runs")}
    for run_id, found in processes_by_run().items():
        if run_id in ids:
            for proc in (p for procs in found.values() for p in procs):
                with contextlib.suppress(psutil.Error):
                    proc.kill()


RESUMED = """\
name: resumed
kill_grace: 1s
secrets:
  TOKEN: {env: CANARY_TOKEN}
  KEY: {file: secret.key}
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: hold, run: "sh -c 'echo started > hold.log; while [ ! -e go ]; do sleep 0.05; done'"}
  - id: two
    tasks:
      - id: use
        run: sh -c 'printf %s "$TOKEN$KEY" | sha256sum > hash.txt'
        secrets: [TOKEN, KEY]
"""


@pytest.mark.usefixtures("_reap")
def test_a_run_resumed_after_kill_9_reads_its_secrets_again(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    token, key = "sk-ant-" + rand(40), rand(40)
    cli_env["CANARY_TOKEN"] = token
    (tmp_path / "secret.key").write_text(key)
    os.chmod(tmp_path / "secret.key", 0o600)
    (tmp_path / "plan.yaml").write_text(RESUMED)
    started = pg("run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    _until("hold to start", lambda: (tmp_path / "hold.log").exists())
    pid = _show(pg)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _until("the engine to die", lambda: not psutil.pid_exists(pid) or _zombie(pid))
    # the dead engine left its write-ahead log: searched too, with everything else
    assert (tmp_path / "data" / "phasegate.db-wal").exists()
    for path, data in _everything(tmp_path):
        assert token.encode() not in data and key.encode() not in data, path
    (tmp_path / "go").touch()
    del cli_env["CANARY_TOKEN"]  # the database does not hold it: resume needs its source
    refused = pg("resume", "last", "--headless")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "secret TOKEN: environment variable CANARY_TOKEN is not set" in refused.stderr
    cli_env["CANARY_TOKEN"] = token
    done = pg("resume", "last", "--headless")
    assert done.returncode == 0, done.stdout + done.stderr
    want = hashlib.sha256((token + key).encode()).hexdigest()
    assert (tmp_path / "hash.txt").read_text().split()[0] == want
    for path, data in _everything(tmp_path):
        assert token.encode() not in data and key.encode() not in data, path


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_run_s_report_needs_none_of_its_secrets_sources(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (another shell, an observer of a shared run: the report said the plan was not kept, and
    # its markdown failed on that with a traceback)
    (tmp_path / "plan.yaml").write_text(
        "name: keyed\n"
        "secrets: {TOKEN: {env: PG_REPORT_TOKEN}}\n"
        "agents: {w: {}}\n"
        "phases: [{id: p, tasks: [{id: t, run: 'true', secrets: [TOKEN]}]}]\n"
    )
    cli_env["PG_REPORT_TOKEN"] = "tok-" + "x7Q" * 8
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    del cli_env["PG_REPORT_TOKEN"]
    done = pg("report", "last", "--kind", "coordination", "--format", "md")
    assert done.returncode == 0, done.stderr
    assert "### Agents and assignments" in done.stdout and "not kept" not in done.stdout


def test_an_adoptable_task_s_output_as_printed_is_private_and_gone_with_the_run(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (`on_resume: adopt` sends output to files in the run directory: 0644, kept for good,
    # the secret in them as printed)
    (tmp_path / "plan.yaml").write_text(
        "name: adopted\n"
        "secrets: {TOKEN: {env: PG_ADOPT_TOKEN}}\n"
        "agents: {w: {}}\n"
        "phases:\n"
        "  - id: p\n"
        "    tasks:\n"
        "      - id: s\n"
        "        secrets: [TOKEN]\n"
        "        on_resume: adopt\n"
        "        run: 'echo tok=$TOKEN; ls -l \"$PHASEGATE_RUN_DIR/tasks\"'\n"
    )
    token = "zebra-PLUM-7741-" + "horse" * 3
    cli_env["PG_ADOPT_TOKEN"] = token
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    listing = pg("logs", "last", "s").stdout  # what the task saw of its own files
    assert "tok=«TOKEN»" in listing
    modes = [
        line.split()[0] for line in listing.splitlines() if line.rstrip().endswith((".out", ".err"))
    ]
    assert modes and all(m.startswith("-rw-------") for m in modes), listing
    leftover = [
        p
        for p in (tmp_path / "data").rglob("*")
        if p.is_file() and token.encode() in p.read_bytes()
    ]
    assert leftover == []


def test_a_secret_whose_value_is_in_a_name_of_the_plan_is_refused(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (the run redacted the task's own id in its events and stopped with a KeyError; and the
    # engine's store, left open, held its exit for good)
    (tmp_path / "plan.yaml").write_text(
        "name: named\n"
        "secrets: {TOKEN: {env: PG_NAMED_TOKEN}}\n"
        "agents: {w: {}}\n"
        "phases: [{id: p, tasks: [{id: build-release, run: 'true', secrets: [TOKEN]}]}]\n"
    )
    cli_env["PG_NAMED_TOKEN"] = "build-release"
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "its value is in the plan's name 'build-release'" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_note_after_the_end_is_redacted_even_when_the_kept_plan_no_longer_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (a plan an older phasegate took, this one refuses (a priority past a million): the
    # redactor fell back to key shapes only, and the declared secret was stored in clear)
    from phasegate.engine.client.feedback import note_after_end
    from phasegate.engine.model import events as ev
    from phasegate.engine.store import SQLiteStore
    from phasegate.engine.store.base import RunRow

    from .helpers import run_started

    secret = "kept-" + canaries()["RANDOM"]
    monkeypatch.setenv("OLD_PLAN_TOKEN", secret)
    text = (
        "name: old\nsecrets: {TOKEN: {env: OLD_PLAN_TOKEN}}\nagents: {a: {}}\n"
        "phases: [{id: p, tasks: [{id: t, run: 'true', priority: 5000000}]}]\n"
    )
    plan = tmp_path / "old.yaml"
    store = await SQLiteStore.open(str(tmp_path / "old.db"))
    try:
        row = RunRow("r", "old", str(plan), "succeeded", 1.0, finished_at=2.0)
        await store.create_run(row)
        await store.save_plan("r", text, {})
        await store.write_batch("r", [(1, run_started(1.0, "r", ["t"]))])
        said = await note_after_end(store, "r", f"pasted {secret}")
        assert said is not None and "noted" in said
        notes = [e for _, e in await store.read_events("r") if isinstance(e, ev.RunNoted)]
    finally:
        await store.close()
    assert [n.text for n in notes] == ["pasted «TOKEN»"]
