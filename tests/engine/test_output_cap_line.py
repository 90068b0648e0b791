"""A line longer than the whole output cap (a regression: it was dropped like any earlier line,
so one 5 MB line left nothing of the attempt's output, and no word of it): kept cut to its
tail, with a mark saying what was cut."""

from __future__ import annotations

from pathlib import Path

from tests.engine.helpers import run_plan


def test_a_line_that_fits_is_kept_whole_and_a_longer_one_is_cut_to_its_tail() -> None:
    from phasegate.engine.run.output import cut_to

    assert cut_to("x" * 99, 100) == "x" * 99  # (with its newline: 100)
    cut = cut_to("a" * 4000 + "THE END", 1000)
    assert len(cut) + 1 == 1000 and cut.endswith("THE END")
    mark, tail = cut.split("…", 1)
    assert (
        mark == f"«output_cap: the first {4007 - len(tail):,} of 4,007 characters of this line cut»"
    )
    assert cut_to("a" * 10, 5) == "«output_cap: the first 10 of 10 characters of this line cut»…"


async def test_a_line_longer_than_the_output_cap_is_kept_cut_to_its_tail(tmp_path: Path) -> None:
    state, store = await run_plan(
        tmp_path,
        """
        name: wide
        output_cap: 1000
        agents: {a: {}}
        phases:
          - id: p
            tasks: [{id: one, run: "head -c 5000 /dev/zero | tr '\\\\0' a; echo b"}]
        """,
    )
    lines = await store.read_output("run1", "one")
    assert [len(line.text) + 1 for line in lines] == [1000]
    assert lines[0].text.startswith("«output_cap: the first ")
    assert lines[0].text.endswith("aaaab")
    assert lines[0].text.split("…", 1)[0].endswith(" of 5,001 characters of this line cut»")
    assert (state.tasks["one"].lines, state.tasks["one"].dropped) == (1, 0)


async def test_a_cut_line_is_dropped_like_any_other_when_later_lines_need_the_room(
    tmp_path: Path,
) -> None:
    state, store = await run_plan(
        tmp_path,
        """
        name: wide
        output_cap: 1000
        agents: {a: {}}
        phases:
          - id: p
            tasks: [{id: one, run: "head -c 5000 /dev/zero | tr '\\\\0' a; echo; seq 1 3"}]
        """,
    )
    lines = await store.read_output("run1", "one")
    assert [line.text for line in lines] == ["1", "2", "3"]
    assert (state.tasks["one"].lines, state.tasks["one"].dropped) == (4, 1)
