"""`report --plan PLAN -o DIR` names its file after the plan, and the file lands in DIR
whatever the plan's name says (the name is the plan's text, not a path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.tui.cli.reports import report_plan

PLAN = """\
name: {name}
agents: {{w: {{}}}}
phases:
  - {{id: p, tasks: [{{id: t, run: "true", agent: w}}]}}
"""


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ('"../../escaped"', "escaped"),
        ('"rep<script>x</script>"', "rep-script-x-script"),
        ('"a/b"', "a-b"),
        ('".."', "plan"),
        ('".hidden"', "hidden"),
        ("shipping", "shipping"),
        ('"x' + "y" * 300 + '"', "x" + "y" * 99),
    ],
)
def test_the_report_of_a_plan_is_written_into_the_directory_given(
    tmp_path: Path, name: str, stem: str
) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    plan = tmp_path / "deep" / "er" / "p.yaml"
    plan.write_text(PLAN.format(name=name))
    out = tmp_path / "deep" / "er" / "out"
    out.mkdir()
    said = report_plan(str(tmp_path / "none.db"), str(plan), {}, "md", str(out))
    written = [p.name for p in out.iterdir()]
    assert written == [f"{stem}-coordination.md"], (said, written)
    assert said == f"wrote {out / written[0]}"
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["er"]  # (nothing outside)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
