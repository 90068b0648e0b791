"""`run --headless` whose output cannot write a name (PYTHONIOENCODING or a locale of latin-1,
a plan named in Cyrillic) writes what it can and runs to its end: it printed a traceback, left
its store open, and hung for good."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import PHASEGATE

PLAN = """
name: сборка-ünï
agents: {a: {}}
phases:
  - id: p
    tasks: [{id: t, run: "echo done"}]
"""


def test_a_name_the_output_cannot_encode_is_replaced_not_a_hang(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "uni.yaml").write_text(PLAN)
    env = dict(cli_env, PYTHONIOENCODING="latin-1")
    done = subprocess.run(
        [PHASEGATE, "run", "uni.yaml", "--headless"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )
    out, err = done.stdout.decode("latin-1"), done.stderr.decode("latin-1")
    assert done.returncode == 0 and "Traceback" not in err, err
    assert "of ??????-ünï (1 task, 1 phase)" in out, out
    assert out.splitlines()[-1].startswith("run ") and "succeeded" in out.splitlines()[-1]
