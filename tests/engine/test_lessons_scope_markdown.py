"""The lessons report's scope changes keep their `+` / `-` marks in Markdown: a list item
starting `+ ` or `- ` started a list nested in it, and the mark (added or removed) vanished."""

from __future__ import annotations

from markdown_it import MarkdownIt

from phasegate.engine.report.render import lessons_md

LESSONS = {
    "findings": [],
    "notes": [],
    "feedback": [],
    "scope_changes": [
        {
            "change": "change-1",
            "status": "passed",
            "by": "ann",
            "version": 2,
            "reason": "approved by ann",
            "decided": [],
            "diff": [
                "+ task z added (phase p3)",
                "- task y removed",
                "~ task b: run: sleep 1 -> sleep 2",
            ],
        }
    ],
    "handoff": {"deliverables": [], "open_items": []},
}


def test_scope_changes_render_with_their_marks() -> None:
    html = MarkdownIt().render("\n".join(lessons_md(LESSONS)))
    scope = html[html.index("Scope changes") : html.index("Hand-off")]
    for line in (
        "+ task z added (phase p3)",
        "- task y removed",
        "~ task b: run: sleep 1 -&gt; sleep 2",
    ):
        assert f"<li>{line}</li>" in scope, scope
    assert scope.count("<ul>") == 2, scope  # (the change's list, and its lines': no deeper one)


def test_a_list_item_never_starts_a_list() -> None:
    from phasegate.engine.report.render import md_item

    for text in ("+ x", "- x", "1. x", "12) x", "+", "-"):
        html = MarkdownIt().render(f"- {md_item(text)}")
        assert html.count("<ul>") == 1 and "<ol" not in html, (text, html)
        assert f"<li>{text}</li>" in html, (text, html)
    assert md_item("-x") == "-x" and md_item("1.5s") == "1.5s"
