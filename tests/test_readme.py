"""The README is a contract: every command in it works as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.S)
    return [
        line[2:].split("  #")[0].strip()
        for b in blocks
        for line in b.splitlines()
        if line.startswith("$ ")
    ]


def test_readme_lists_commands() -> None:
    cmds = console_commands()
    assert "make run" in cmds and "make test" in cmds
    assert any(c.startswith("phasegate run") for c in cmds)


@pytest.mark.slow
@pytest.mark.e2e
# (the demo plan's workdir, plans/.demo-work, is the checkout's: one demo at a time)
@pytest.mark.xdist_group("demo-workdir")
def test_every_readme_command_works_as_written(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PHASEGATE_DB"] = str(tmp_path / "readme.db")
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["NO_COLOR"] = "1"
    seen = []
    for command in console_commands():
        if command.startswith("source "):
            assert (ROOT / command.split()[1]).exists()
            continue
        if command == "make test":
            # running the suite from inside itself would recurse: check what it would run
            dry = subprocess.run(
                ["make", "-n", "test"], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert dry.returncode == 0 and "pytest" in dry.stdout
            continue
        done = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (
            f"`{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        assert "Traceback" not in done.stderr
        seen.append(command)
    assert "make run" in seen
    runs = subprocess.run(
        [str(BIN / "phasegate"), "runs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert runs.stdout.count('"status": "succeeded"') >= 2  # make run and the headless run


def test_readme_command_table_matches_the_cli() -> None:
    names = set(re.findall(r"^\| `phasegate (\w+)", README, flags=re.M))
    helptext = subprocess.run(
        [str(BIN / "phasegate"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = set(re.findall(r"^  (\w+)\s", helptext.split("Commands:")[1], flags=re.M))
    assert names == listed, f"README lists {sorted(names)}, --help lists {sorted(listed)}"


def test_make_check_and_bench_targets_exist() -> None:
    for target in ("check", "bench", "run", "test"):
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr


def test_shipped_plans_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    from phasegate.engine.plan import validate_file

    plans = sorted((ROOT / "plans").glob("*.yaml"))
    assert {p.name for p in plans} >= {"demo.yaml", "delivery.yaml", "agents.yaml"}
    # agents.yaml declares the API key its agents need: without it, validation says so
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    missing = validate_file(str(ROOT / "plans" / "agents.yaml"))
    assert [p.key for p in missing] == ["secrets.ANTHROPIC_API_KEY.env"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-" + "x" * 40)
    for plan in plans:
        assert validate_file(str(plan)) == [], plan
