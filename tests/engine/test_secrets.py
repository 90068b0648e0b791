"""The redactor (engine/model/secrets.py) and the plan's `secrets:` (engine/plan/secrets.py)."""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import PlanError
from phasegate.engine.model.secrets import REDACTED, Redactor, looks_like_key
from phasegate.engine.plan.load import plan_from_text
from phasegate.engine.plan.secrets import resolve
from tests.engine.helpers import run_plan

B62 = string.ascii_letters + string.digits
B64URL = B62 + "-_"


def rand(n: int, alphabet: str = B62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def canaries() -> dict[str, str]:
    """A random value of each known key shape."""
    return {
        "ANTHROPIC": "sk-ant-api03-" + rand(48, B64URL),
        "OPENAI": "sk-proj-" + rand(40),
        "GITHUB": "ghp_" + rand(36),
        "GITHUB_PAT": "github_pat_" + rand(22) + "_" + rand(59),
        "AWS": "AKIA" + rand(16, string.ascii_uppercase + string.digits),
        "JWT": "eyJ" + rand(30, B64URL) + ".eyJ" + rand(40, B64URL) + "." + rand(43, B64URL),
        "RANDOM": "aB3" + rand(40),
    }


@pytest.mark.parametrize("name", sorted(canaries()))
def test_every_known_shape_is_found_and_redacted(name: str) -> None:
    value = canaries()[name]
    assert looks_like_key(value)
    line = f'{{"token": "{value}", "note": "x"}}'
    assert Redactor().text(line) == f'{{"token": "{REDACTED}", "note": "x"}}'


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f786850e387550fdab836ed7e6dc881de23001b3f786850",  # hex digest
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "test_the_valid_corpus_uses_every_key_of_the_model",
        "/usr/lib/python3.11/site-packages/phasegate/engine/model/secrets.py",
        "sk-short ghp_short AKIA123",
        "PHASEGATE_RUN_ID=5ea9a80f PHASEGATE_TASK=compile_everything_now",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text
    assert looks_like_key(text) == ""


def test_declared_values_become_their_names_longest_first() -> None:
    red = Redactor({"SHORT": "hunter2-abc", "LONG": "hunter2-abc-and-more"})
    assert red.text("a hunter2-abc-and-more b hunter2-abc") == "a «LONG» b «SHORT»"


def test_an_event_is_kept_as_is_when_clean_and_copied_redacted_when_not() -> None:
    red = Redactor({"TOKEN": "s3cret-value-1"})
    clean = ev.TaskFinished(1.0, "t", 1, "failed", 1, 2, 0, "exited with code 1")
    assert red.event(clean) is clean
    dirty = ev.TaskFinished(1.0, "t", 1, "failed", 1, 2, 0, "bad token s3cret-value-1")
    out = red.event(dirty)
    assert isinstance(out, ev.TaskFinished) and out.reason == "bad token «TOKEN»"
    assert (out.ts, out.task, out.status) == (1.0, "t", "failed")


PLAN = """\
name: s
secrets:
  TOKEN: {env: PG_TEST_TOKEN}
  KEY: {file: key.txt}
agents:
  a: {secrets: [TOKEN]}
phases:
  - id: p
    tasks:
      - {id: t, run: "true", secrets: [KEY]}
"""


def test_resolve_reads_every_source_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "key.txt"
    key.write_text("file-secret-123\n")
    os.chmod(key, 0o600)
    monkeypatch.setenv("PG_TEST_TOKEN", "env-secret-456")
    plan = plan_from_text(PLAN, "plan.yaml", str(tmp_path))
    assert resolve(plan) == {"TOKEN": "env-secret-456", "KEY": "file-secret-123"}
    monkeypatch.delenv("PG_TEST_TOKEN")
    with pytest.raises(PlanError) as caught:
        resolve(plan)
    assert "secret TOKEN: environment variable PG_TEST_TOKEN is not set" in str(caught.value)


def test_a_file_others_may_read_and_a_short_value_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "key.txt"
    key.write_text("file-secret-123\n")
    os.chmod(key, 0o640)
    monkeypatch.setenv("PG_TEST_TOKEN", "short")
    with pytest.raises(PlanError) as caught:
        plan_from_text(PLAN, "plan.yaml", str(tmp_path))
    text = str(caught.value)
    assert "plan.yaml:4: secrets.KEY.file: secret KEY:" in text and "chmod 600" in text
    assert "plan.yaml:3: secrets.TOKEN.env: secret TOKEN:" in text and "5 characters" in text


def test_a_secret_printed_across_lines_is_replaced_in_every_piece_and_order_kept() -> None:
    from phasegate.engine.model.secrets import LineWindow

    secret = "Zq7" + "x" * 30 + "9wK"
    window = LineWindow(Redactor({"TOKEN": secret}))
    text = f"before {secret} after, and then some more text to go"
    lines = [text[i : i + 7] for i in range(0, len(text), 7)]
    kept: list[str] = []
    for line in lines:
        kept += window.push(line)
    assert len(kept) < len(lines)  # (the last ones are held until flushed)
    kept += window.flush()
    assert len(kept) == len(lines)
    joined = "".join(kept)
    assert "x" * 7 not in joined and "Zq7" not in joined and "9wK" not in joined
    assert joined.startswith("before «TOKEN»") and joined.endswith("some more text to go")
    assert kept[-1] == lines[-1]  # a line it did not touch is kept as it was


def test_a_key_right_after_other_characters_is_found() -> None:
    # (a review: a word boundary before the shapes let these through)
    key = "sk-" + rand(24)
    for text in (
        f"Bearer%20{key}",
        f'{{"cfg":"a\\n{key}"}}',
        f"x{key}",
        f"idAKIA{rand(16, B62.upper())}",
    ):
        assert REDACTED in Redactor().text(text), text


def test_a_name_of_the_plan_within_a_text_is_kept() -> None:
    name = "run-risk-assessment-of-release"  # (holds `sk-` and twenty more characters)
    red = Redactor(keep={name})
    assert red.text(f"task {name} passed") == f"task {name} passed"
    assert red.text("disk-usage-report-for-every-volume") != "disk-usage-report-for-every-volume"


def test_a_name_of_the_plan_is_never_taken_for_a_key_but_a_key_beside_it_is() -> None:
    name = "sk-release-notes-for-every-customer"
    key = canaries()["OPENAI"]
    red = Redactor(keep={name})
    done = ev.TaskFinished(1.0, name, 1, "failed", 1, 0, 0, f"{name} printed {key}")
    out = red.event(done)
    assert out.task == name and out.reason == f"{name} printed {REDACTED}"
    assert Redactor().event(done).task == REDACTED  # (what the run got before it kept names)


async def test_a_run_of_tasks_named_like_keys_ends_and_keeps_their_names(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: keys
        agents: {w: {}}
        phases:
          - id: p
            tasks:
              - {id: run-risk-assessment-of-release, run: "true"}
              - id: sk-release-notes-for-every-customer
                run: "true"
                needs: [run-risk-assessment-of-release]
        """,
    )
    assert state.status.value == "succeeded"
    assert sorted(state.tasks) == [
        "run-risk-assessment-of-release",
        "sk-release-notes-for-every-customer",
    ]
    assert all(t.status.value == "succeeded" for t in state.tasks.values())
