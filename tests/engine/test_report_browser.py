"""The HTML report in a real headless Chromium (the distribution's `chromium`): the charts are
drawn, and no text runs past the right edge at 1280 and 800 px wide. The screenshots are kept
in the test's tmp dir (their paths printed: `pytest -s`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from phasegate.engine.report import make

from .test_report_facts import _store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (Debian's package `chromium`; .ci/run installs it)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
LONG = "release-candidate-" + "x" * 160  # one word no line can hold: it must wrap


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _page(tmp: Path) -> Path:
    """The report of a release train's second run (a manual gate, a take-over, a trend), with
    a reason and an operator's note as long as an unbroken id."""
    store = await _store("one", "two")
    report = await make.run_report(store, "two", ("coordination", "qa", "performance", "lessons"))
    report["summary"]["reason"] = f"stopped at {LONG}"
    report["lessons"]["notes"].append({"ts": 0, "by": "bob", "text": f"see {LONG} <b>x</b>"})
    page = tmp / "report.html"
    page.write_text(make.render(report, "html"), encoding="utf-8")
    return page


async def test_the_html_report_draws_its_charts_in_chromium(tmp_path: Path) -> None:
    page = await _page(tmp_path)
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = done.stdout
    assert done.returncode == 0 and "<body" in dom, done.stderr[-2000:]
    assert dom.count("<svg") >= 3  # Gantt, utilisation, trend
    assert 'class="b-succeeded crit"' in dom and 'class="gate"' in dom
    assert "gate qa: waited 4m50s" in dom
    assert "&lt;b&gt;x&lt;/b&gt;" in dom and "<b>x</b>" not in dom
    assert "<script" not in dom


@pytest.mark.parametrize("width", [1280, 800])
async def test_no_text_runs_past_the_right_edge(tmp_path: Path, width: int) -> None:
    from PIL import Image

    page = await _page(tmp_path)
    shot = tmp_path / f"report-{width}.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", f"--window-size={width},2000", page.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    print(f"screenshot: {shot}")
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (width, 2000)
        background = rgb.getpixel((width - 1, 0))
        # the page's right margin (the body's padding: 24 px) holds nothing but background
        edge = [rgb.getpixel((x, y)) for x in range(width - 12, width) for y in range(2000)]
        strays = [p for p in edge if p != background]
        assert not strays, f"{len(strays)} pixels past the right edge in {shot}"
        # and the page is drawn: the Gantt's bars are there, in colour
        colours = rgb.resize((64, 100)).getcolors(64 * 100) or []
        assert len(colours) > 20, f"a blank page? {shot}"
