"""The engine never imports the front end: checked in a fresh interpreter, as harlequin does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# the executors of optional extras: their libraries bring their own dependencies (distributed
# imports click for its command line), so only the front end is forbidden to them
EXTRAS = ("phasegate.engine.exec.dask",)


def _in_a_fresh_interpreter(code: str, *what: object) -> None:
    """Run `code` in a new Python process (nothing imported yet); its assertions must hold."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, (*what, done.stderr)


def test_the_engine_imports_neither_textual_nor_tui() -> None:
    code = (
        "import sys, pkgutil, importlib, phasegate.engine as engine\n"
        f"extras = {EXTRAS!r}\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'phasegate.engine.'):\n"
        "    if m.name != 'phasegate.engine.__main__' and m.name not in extras:\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'click', 'tui')\n"
        "             or n.startswith('phasegate.tui'))\n"
        "assert not bad, bad\n"
        "for name in extras:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        continue  # (the extra is not installed)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'tui')\n"
        "             or n.startswith('phasegate.tui'))\n"
        "assert not bad, bad\n"
    )
    _in_a_fresh_interpreter(code)


def test_the_headless_path_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import phasegate.tui.cli.main, phasegate.engine.host, phasegate.engine.run.loop\n"
        "import phasegate.engine.plan\n"
        "assert 'textual' not in sys.modules, 'headless runs must not pay for textual'\n"
    )
    _in_a_fresh_interpreter(code)


def test_the_dashboard_starts_without_the_plan_model() -> None:
    """Attaching never builds a plan: the plan model and YAML are
    imported only by what needs them (an amendment, a proposed change's diff), which kept the
    first screen of a 200,000-event run under its 1 s target (bench/attach.py)."""
    code = (
        "import sys\n"
        "import phasegate.tui.cli.main, phasegate.tui.dashboard.app\n"
        "from phasegate.tui.launch import attach_dashboard\n"
        "import phasegate.engine.plan.dag, phasegate.engine.watch.forecast\n"
        "heavy = sorted(n for n in ('yaml', 'phasegate.engine.plan.model')\n"
        "               if n in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    _in_a_fresh_interpreter(code)


def test_reading_runs_parses_no_plan(tmp_path: Path) -> None:
    """`show`, `runs`, `logs`, `diff` and `doctor` read what runs recorded: none of them builds
    a plan, so none pays for the plan model and YAML; but `doctor`, none for psutil either."""
    db = str(tmp_path / "runs.db")
    for _ in range(2):  # (two runs of the plan: `diff last` compares them)
        ran = subprocess.run(
            [
                sys.executable,
                "-m",
                "phasegate.tui.cli.main",
                "run",
                str(_one_task(tmp_path)),
                "--headless",
                "-q",
                "--db",
                db,
            ],
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stderr
    for command in (
        ["show", "last", "--json"],
        ["runs"],
        ["logs", "last"],
        ["diff", "last"],
        ["doctor"],
    ):
        heavy = ["phasegate.engine.plan.model", "yaml"]
        if command != ["doctor"]:  # (psutil and the doctor's checks: a quarter of show's start)
            heavy += ["psutil", "phasegate.engine.durable.doctor"]
        code = (
            "import sys\n"
            "from phasegate.tui.cli.main import main\n"
            f"sys.argv = ['phasegate', *{command!r}, '--db', {db!r}]\n"
            "try:\n"
            "    main()\n"
            "except SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            f"heavy = [n for n in {heavy!r} if n in sys.modules]\n"
            "assert not heavy, heavy\n"
        )
        _in_a_fresh_interpreter(code, command)


def _one_task(tmp_path: Path) -> Path:
    plan = tmp_path / "one.yaml"
    plan.write_text(
        'name: one\nagents: {w: {}}\nphases: [{id: p, tasks: [{id: t, run: "true"}]}]\n'
    )
    return plan


def test_help_pays_only_for_the_command_table() -> None:
    """`phasegate --help` (target 80 ms, bench/startup.py) imports click and the commands'
    declarations: not msgspec, YAML, asyncio or the store, which the commands load when run."""
    code = (
        "import sys\n"
        "from phasegate.tui.cli.main import main\n"
        "sys.argv = ['phasegate', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = [n for n in ('msgspec', 'yaml', 'asyncio', 'sqlite3') if n in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    _in_a_fresh_interpreter(code, ["--help"])


def test_validate_pays_for_the_plan_only(tmp_path: Path) -> None:
    """`phasegate validate` loads and checks a plan: neither asyncio nor the store, which reading
    and steering runs need (the package engine.client imported them for every command, a
    third of validate's start-up)."""
    code = (
        "import sys\n"
        "from phasegate.tui.cli.main import main\n"
        f"sys.argv = ['phasegate', 'validate', {str(_one_task(tmp_path))!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = [n for n in ('asyncio', 'sqlite3', 'aiosqlite') if n in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    _in_a_fresh_interpreter(code, ["validate"])
