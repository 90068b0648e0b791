"""`phasegate doctor`'s search of a database for keys an older version kept (events, output lines,
kept plans): it finds what a look at every row on its own finds, in its order, but reads a long
output line by line only around a key's shape (a database with hundreds of thousands of output
lines took seconds)."""

from __future__ import annotations

import json
import random
import sqlite3
import string
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from phasegate.engine.durable import leaks
from phasegate.engine.durable.doctor import diagnose
from phasegate.engine.model.secrets import looks_like_key
from phasegate.engine.store import SQLiteStore

ALNUM = string.ascii_letters + string.digits
CLEAN = "compiling unit {} of the core: ok (3 warnings) — déjà vu"  # (no key shape, not ASCII)


def _rand(n: int, alphabet: str = ALNUM, seed: int = 0) -> str:
    chosen = random.Random(seed)
    return "".join(chosen.choice(alphabet) for _ in range(n))


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "phasegate.db"
    path.parent.mkdir(mode=0o700)
    store = await SQLiteStore.open(str(path))
    await store.close()
    return path


def _run(conn: sqlite3.Connection, run_id: str, tasks: Iterable[str] = ("build",)) -> None:
    """A finished run, as an older version left it (before it redacted what it stored)."""
    conn.execute(
        "INSERT INTO runs (id, plan_name, plan_path, status, created_at, finished_at) "
        "VALUES (?, 'p', 'p.yaml', 'succeeded', 1, 2)",
        (run_id,),
    )
    started = json.dumps({"tasks": [{"id": t} for t in tasks]})
    _event(conn, run_id, 1, started, "run.started")


def _event(conn: sqlite3.Connection, run_id: str, seq: int, data: str, kind: str = "note") -> None:
    conn.execute(
        "INSERT INTO events (run_id, seq, type, ts, data) VALUES (?, ?, ?, 1, ?)",
        (run_id, seq, kind, data),
    )


def _lines(
    conn: sqlite3.Connection, run_id: str, task: str, texts: Iterable[str], attempt: int = 1
) -> None:
    conn.executemany(
        "INSERT INTO output (run_id, task, attempt, line, stream, text, ts) "
        "VALUES (?, ?, ?, ?, 'stdout', ?, 1)",
        [(run_id, task, attempt, n, text) for n, text in enumerate(texts, 1)],
    )


def _row_by_row(conn: sqlite3.Connection) -> Iterator[leaks.Leak]:
    """What doctor found before it searched in batches: every row looked at on its own."""
    names = leaks._plan_names(conn)
    none: frozenset[str] = frozenset()
    for run_id, seq, kind, data in conn.execute(
        "SELECT run_id, seq, type, data FROM events ORDER BY run_id, seq"
    ):
        yield from _one(run_id, f"events seq {seq} ({kind})", data, names.get(run_id, none))
    for run_id, task, attempt, line, text in conn.execute(
        "SELECT run_id, task, attempt, line, text FROM output ORDER BY run_id, task, attempt, line"
    ):
        where = f"output {task}#{attempt} line {line}"
        yield from _one(run_id, where, text, names.get(run_id, none))
    for run_id, text, variables in conn.execute("SELECT run_id, text, vars FROM run_plans"):
        kept = names.get(run_id, none)
        for number, line in enumerate(text.splitlines(), 1):
            yield from _one(run_id, f"run_plans text line {number}", line, kept)
        yield from _one(run_id, "run_plans vars", variables, kept)


def _one(run_id: str, where: str, text: str, names: frozenset[str]) -> list[leaks.Leak]:
    leak = leaks._found(run_id, where, text, names)
    return [] if leak is None else [leak]


def _secrets_found(db: Path) -> list[str]:
    return [f.detail for f in diagnose(str(db)) if f.check == "secret in database"]


def test_a_long_output_is_read_line_by_line_only_around_a_key(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: doctor looked at every output line on its own (7.5 s for a 226 MB database)
    key = "AKIA" + _rand(16, string.ascii_uppercase + string.digits)
    texts = [CLEAN.format(n) for n in range(1, 20_001)]
    texts[12_344] = f"aws key={key} leaked"
    with closing(sqlite3.connect(db)) as conn, conn:
        _run(conn, "r1")
        _lines(conn, "r1", "build", texts)
    looked = 0
    found = leaks._found

    def counted(*args: str | frozenset[str]) -> leaks.Leak | None:
        nonlocal looked
        looked += 1
        return found(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(leaks, "_found", counted)
    said = _secrets_found(db)
    assert (
        said[0] == "run r1, output build#1 line 12345: AWS access key id: aws key=«redacted» leaked"
    )
    assert key not in "".join(said)
    assert looked < 10_000, looked  # (the lines near the key's, not all 20,000)


def test_doctor_finds_what_a_look_at_every_row_finds_in_its_order(db: Path) -> None:
    github = "ghp_" + _rand(36, seed=1)
    openai = "sk-" + _rand(30, seed=2)
    name = "a-very-long-task-name-that-goes-on-and-on"  # (holds `sk-` and twenty more: no key)
    digest = "0123456789abcdef" * 4  # (32 key characters and more, but no random string)
    many = [CLEAN.format(n) for n in range(1, 12_000)]
    with closing(sqlite3.connect(db)) as conn, conn:
        _run(conn, "bbbb", tasks=[name, "test"])  # (stored first, listed second)
        _run(conn, "aaaa")
        _lines(conn, "bbbb", "test", [*many[:100], f"token {github}", digest], attempt=2)
        _lines(conn, "bbbb", "test", [f"déjà {openai} vu", *many], attempt=1)
        _lines(conn, "bbbb", name, [f"{name} ok", digest, *many[:5000], f"{name} {openai}"])
        _lines(conn, "aaaa", "build", [*many, f"GH_TOKEN={github}"])
        _event(conn, "bbbb", 3, json.dumps({"note": f"the key is {openai}"}))
        _event(conn, "bbbb", 2, json.dumps({"note": digest}))
        _event(conn, "aaaa", 2, json.dumps({"message": f"push with {github}"}))
        conn.execute(
            "INSERT INTO run_plans (run_id, text, vars) VALUES (?, ?, ?)",
            ("bbbb", f"name: p\nvars:\n  token: {github}\n", json.dumps({"k": openai})),
        )
        conn.execute("INSERT INTO run_plans (run_id, text, vars) VALUES ('aaaa', 'name: p', '{}')")
    with closing(sqlite3.connect(db)) as conn:
        expected = [str(leak) for leak in _row_by_row(conn)]
    assert len(expected) == 8, expected  # (none of the task's name, nor of the digest)
    assert _secrets_found(db)[:-1] == expected
    assert expected[0].startswith("run aaaa, events seq 2 (note): GitHub token: ")
    assert expected[3].startswith(f"run bbbb, output {name}#1 line 5003: OpenAI-style API key: ")
    assert expected[4].startswith("run bbbb, output test#1 line 1: ")
    assert expected[5].startswith("run bbbb, output test#2 line 101: ")
    assert expected[6:] == [
        "run bbbb, run_plans text line 3: GitHub token:   token: «redacted»",
        'run bbbb, run_plans vars: OpenAI-style API key: {"k": "«redacted»"}',
    ]


KEYS = [
    ("Anthropic API key", "sk-ant-api03-" + _rand(40, seed=3)),
    ("OpenAI-style API key", "sk-proj-" + _rand(40, seed=4)),
    ("GitHub token", "gho_" + _rand(36, seed=5)),
    ("GitHub token", "github_pat_" + _rand(40, ALNUM + "_", seed=6)),
    ("AWS access key id", "ASIA" + _rand(16, string.ascii_uppercase + string.digits, seed=7)),
    ("JSON Web Token", "eyJhbGciOi.eyJzdWIiOi." + _rand(20, seed=8)),
    ("long random string", _rand(40, ALNUM + "+", seed=9) + "=="),
]


@pytest.mark.parametrize(("kind", "key"), KEYS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(KEYS)])
def test_each_key_shape_is_found_amid_a_long_output(db: Path, kind: str, key: str) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        _run(conn, "r1")
        texts = [CLEAN.format(n) for n in range(1, 8_000)]
        texts[4_100] = f"here:{key}:there"  # (past the first few thousand lines)
        _lines(conn, "r1", "build", texts)
    said = _secrets_found(db)
    assert said[0] == f"run r1, output build#1 line 4101: {kind}: here:«redacted»:there"


def test_a_random_string_the_redactor_calls_a_key_is_found_whatever_its_length(db: Path) -> None:
    # (the batch search looks for as many key characters in a row as the redactor's shortest)
    tokens = [_rand(n, ALNUM + "+_-", seed=n) for n in range(12, 40)]
    keys = [t for t in tokens if looks_like_key(t)]
    assert keys, tokens
    with closing(sqlite3.connect(db)) as conn, conn:
        for n, key in enumerate(keys):
            _run(conn, f"r{n:03}")
            _lines(conn, f"r{n:03}", "build", [*(CLEAN.format(i) for i in range(500)), key])
    said = _secrets_found(db)
    assert said[:-1] == [
        f"run r{n:03}, output build#1 line 501: long random string: «redacted»"
        for n in range(len(keys))
    ]


def test_lines_too_long_to_search_together_are_searched_one_by_one(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leaks, "JOINED", 50_000)  # (64 MiB: a few long lines)
    key = "ghp_" + _rand(36, seed=10)
    texts = [CLEAN.format(n) * 100 for n in range(1, 1_001)]  # (6 MB together)
    texts[700] = f"{texts[700]} {key}"
    with closing(sqlite3.connect(db)) as conn, conn:
        _run(conn, "r1")
        _lines(conn, "r1", "build", texts)
    said = _secrets_found(db)
    assert len(said) == 2 and said[0].startswith("run r1, output build#1 line 701: GitHub token: ")
    assert key not in said[0]


@pytest.mark.parametrize("stored", ["text", "blob"])
def test_a_line_that_is_not_utf8_is_searched_and_never_quoted_whole(db: Path, stored: str) -> None:
    # regression: text an older version kept that is not UTF-8 made the batch's read fail, and
    # doctor's FAIL line quoted the whole batch, the key unredacted among it
    key = "sk-ant-api03-" + _rand(40, seed=11)
    raw = f"token {key} then ".encode() + b"\xff\xfe bytes"
    with closing(sqlite3.connect(db)) as conn, conn:
        _run(conn, "r1")
        _lines(conn, "r1", "build", [CLEAN.format(1), "placeholder", CLEAN.format(3)])
        value = raw if stored == "blob" else sqlite3.Binary(raw)
        cast = "?" if stored == "blob" else "CAST(? AS TEXT)"
        conn.execute(f"UPDATE output SET text = {cast} WHERE line = 2", (value,))
    findings = diagnose(str(db))
    said = "\n".join(f"{f.check} {f.level} {f.detail}" for f in findings)
    assert key not in said and "database fail" not in said, said
    found = [f.detail for f in findings if f.check == "secret in database"]
    assert found[0].startswith("run r1, output build#1 line 2: Anthropic API key: token «redacted»")
