"""Installed, phasegate claims one import name: `phasegate` (its engine and front end beneath it),
never the generic top-level names `engine` and `tui` in a user's site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.e2e
def test_the_wheel_installs_one_import_package_named_phasegate(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 and "No matching distribution" in built.stderr:
        pytest.skip("the build backend cannot be fetched here (no package registry)")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("phasegate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"phasegate"}
    for needed in (
        "phasegate/__init__.py",
        "phasegate/engine/__main__.py",
        "phasegate/engine/py.typed",
        "phasegate/engine/run/loop.py",
        "phasegate/tui/cli/main.py",
        "phasegate/tui/py.typed",
    ):
        assert needed in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "phasegate = phasegate.tui.cli.main:entry" in zipfile.ZipFile(wheel).read(entry).decode()
