"""Text shown on its own line stays there: a line break or a tab in a reason, a note or a name is
shown as an escape in a table's cell and an event's log line, so that nobody's reason can print
a line that looks like another audit row (`approve --reason $'ok\\n... reject ...'`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import PlanError
from phasegate.engine.plan.load import plan_from_text
from phasegate.tui.text import log_line, table

FORGED = "ok\n2026-12-07 00:15:31  g1      reject             alice (1001)  vm\tlooks wrong"


def test_a_cell_with_a_line_break_stays_on_its_row() -> None:
    shown = table(
        ["GATE", "DECISION", "REASON"], [["g1", "approve", FORGED], ["g2", "reject", "x"]]
    )
    lines = shown.splitlines()
    assert len(lines) == 3 and lines[1].startswith("g1") and lines[2].startswith("g2")
    assert "ok\\n2026-12-07 00:15:31" in lines[1] and "vm\\tlooks wrong" in lines[1]


def test_an_event_s_log_line_is_one_line() -> None:
    voted = ev.GateVoted(1.0, "g1", "approve", "bob", 1000, reason=FORGED)
    line = log_line(voted)
    assert line is not None and "\n" not in line and "\t" not in line
    assert "(ok\\n2026-12-07" in line


@pytest.mark.parametrize("name", ["a\\nb", "tab\\there", "cr\\rhere"])
def test_a_plan_s_name_is_one_line(name: str) -> None:
    text = f'name: "{name}"\nagents: {{w: {{}}}}\nphases: [{{id: p, tasks: [{{id: t, run: x}}]}}]\n'
    with pytest.raises(PlanError, match="name is one line"):
        plan_from_text(text, "plan.yaml", ".")


def test_a_table_wider_than_the_terminal_wraps_its_last_column_in_place() -> None:
    """`runs` at 80 columns: the tasks column wraps inside itself (the terminal wrapped it to
    the left edge, under the ids); every line fits, nothing is lost; a pipe gets one line."""
    from phasegate.tui.text import table

    headers = ["id", "plan", "status", "started", "duration", "tasks"]
    row = ["3bcd1b39", "demo", "interrupted", "2026-12-07 04:29:39", "26.1s"]
    tasks = "5 succeeded, 1 running, 1 pending"
    lines = table(headers, [[*row, tasks], [*row, "2 succeeded"]], width=80).splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    start = lines[0].index("TASKS")
    assert lines[1][start:] + " " + lines[2][start:] == tasks and not lines[2][:start].strip()
    assert lines[3].endswith("  2 succeeded")
    assert len(table(headers, [[*row, tasks]], width=200).splitlines()) == 2
    # narrower still: the widest columns narrow one at a time (the tasks, then the start time)
    narrow = table(headers, [[*row, tasks]], width=70).splitlines()
    assert all(len(line) <= 70 for line in narrow) and len(narrow) == 4, narrow
    assert narrow[1].startswith("3bcd1b39  demo  interrupted  2026-12-07 ")
    assert narrow[2].split() == ["04:29:39", "running,", "1"]
    assert (
        " ".join(narrow[1][narrow[0].index("TASKS") :].split() + narrow[2].split()[1:])
        + (" " + narrow[3].strip())
        == tasks
    )
    # too narrow for every column's header: left as it is, for the terminal to wrap
    assert table(headers, [[*row, tasks]], width=40).splitlines()[1].endswith(tasks)


def test_every_column_of_a_wide_table_can_wrap_to_fit() -> None:
    """`risks --all` at 80 columns: the risk and the action are both long, the columns before
    the last left it no room, and the terminal wrapped it to the left edge. The widest columns
    narrow now, each wrapping inside itself."""
    from phasegate.tui.text import table

    headers = ["raised", "severity", "subject", "risk", "suggested action"]
    risk = "running 8.8s, past its estimate of 8.0s"
    action = "check its output (l); skip or cancel it  (cleared)"
    row = ["12-07 06:21", "medium", "task smoke-test", risk, action]
    lines = table(headers, [row, row], width=80).splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) == 7, lines
    at = lines[0].index("RISK"), lines[0].index("SUGGESTED ACTION")
    said = [line[at[0] : at[1]].strip() for line in lines[1:4]]
    assert " ".join(said) == risk
    assert " ".join(line[at[1] :] for line in lines[1:4]).split() == action.split()
    assert lines[4] == lines[1]  # (every row the same way)
    assert len(table(headers, [row], width=None).splitlines()) == 2  # (a pipe: one line a row)


def test_a_labelled_line_breaks_between_its_items() -> None:
    from phasegate.tui.text import labelled

    items = ["success 100%", "on time 86%", "quality 100%", "efficiency 49%", "satisfaction n/a"]
    lines = labelled("  metrics  ", items, width=80).splitlines()
    assert lines == [
        "  metrics  success 100% · on time 86% · quality 100% · efficiency 49% ·",
        "           satisfaction n/a",
    ]
    assert labelled("  metrics  ", items, width=200) == "  metrics  " + " · ".join(items)


def test_a_wrapped_column_counts_wide_characters_as_two_columns() -> None:
    from phasegate.tui.text import cells, table

    lines = table(["id", "reason"], [["a", "日本語" * 10]], width=30).splitlines()
    assert all(cells(line) <= 30 for line in lines), lines
    assert "".join(line[4:] for line in lines[1:]) == "日本語" * 10
    aligned = table(["id", "reason"], [["日本", "x"], ["ab", "y"]], width=80).splitlines()
    assert [line.index(c) for line, c in zip(aligned[1:], "xy", strict=True)] == [4, 6]


def test_what_a_search_found_is_a_table_whose_text_wraps_in_its_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search` wrote its findings as lines the terminal wrapped at its edge, under the dates."""
    import asyncio

    from phasegate.engine.store import SQLiteStore
    from phasegate.engine.store.base import Knowledge
    from phasegate.tui.cli import reports

    async def found() -> list[str]:
        db = str(tmp_path / "k.db")
        store = await SQLiteStore.open(db)
        text = "took 5.0s against an estimate of 2.0s (2.5x); set its estimate near 5.0s"
        await store.remember("r1", "demo", [Knowledge("lesson", 1.0, "fetch", text)])
        await store.close()
        return (await reports.search_history(db, "estimate", 20, False)).splitlines()

    monkeypatch.setattr("phasegate.tui.text.terminal_width", lambda: 60)  # (a 60-column tty)
    lines = asyncio.run(found())
    assert lines[0].split() == ["WHEN", "RUN", "PLAN", "KIND", "FOUND"]
    assert len(lines) > 2 and all(len(line) <= 60 for line in lines), lines
    at = lines[0].index("FOUND")
    said = " ".join(line[at:].strip() for line in lines[1:])
    assert said.startswith("fetch: took 5.0s") and said.endswith("near 5.0s")


def test_a_name_stays_whole_when_the_other_columns_can_narrow() -> None:
    """The widest column narrowed first, whatever it held: `integration-tests-nightly` was cut
    into `integration-tests-n` / `ightly` while the text beside it had room to wrap."""
    headers = ["when", "subject", "found"]
    name = "integration-tests-nightly-and-more"
    row = ["2026-12-07 06:21:25", name, "failed: exited with code 1 after the suite timed out"]
    lines = table(headers, [row], width=80).splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) > 2, lines
    assert name in lines[1], lines
