"""The headless log's lines for what waits for a person: a gate, and a coding agent's permission
request (routed like a gate; a headless run said nothing of it and seemed to hang), each with
the commands that answer it, naming the database when it is not the default."""

from __future__ import annotations

from phasegate.engine.logline import log_line
from phasegate.engine.model import events as ev

DB = " --db /tmp/x/other.db"


def test_a_gate_that_waits_says_how_to_approve_it_in_its_database() -> None:
    line = log_line(ev.GateOpened(1.0, "review", 1, [], "ab" * 32, "manual"), "r1", DB)
    assert line is not None
    assert line.endswith(f"waits for approval: phasegate approve r1 review --reason TEXT{DB}")


def test_a_permission_request_says_what_waits_and_how_to_answer_it() -> None:
    asked = ev.PermissionAsked(1.0, "tool-1-p1", "build", 1, "Bash", "rm -rf build/", "clean")
    line = log_line(asked, "r1", DB)
    assert line is not None
    assert "build asks to use Bash: rm -rf build/" in line
    assert f"allow: phasegate approve r1 tool-1-p1{DB}" in line
    assert f"deny: phasegate reject r1 tool-1-p1 --reason TEXT{DB}" in line
    answered = log_line(ev.PermissionAnswered(2.0, "tool-1-p1", False, "ann", 7, "no"), "r1")
    assert answered is not None and answered.endswith("request tool-1-p1 denied by ann: no")
    assert "--db" not in (log_line(asked, "r1") or "")  # (the default database: no flag)


def test_untrusted_text_in_a_request_stays_on_one_line() -> None:
    asked = ev.PermissionAsked(1.0, "p1", "t", 1, "Bash", "echo x\n\x1b[31mforged line", "")
    line = log_line(asked, "r1")
    assert line is not None and "\n" not in line and "\x1b" not in line


def test_what_waits_for_a_person_is_printed_even_under_q_and_says_how_to_answer() -> None:
    from phasegate.engine.logline import waits_for_a_person

    gate = ev.GateOpened(1.0, "review", 1, [], "ab" * 32, "manual")
    asked = ev.RunPaused(1.0, "risk:failure_rate", "3 of 4 tasks failed", ask="failure_rate")
    request = ev.PermissionAsked(1.0, "t-1-p1", "t", 1, "Bash", "ls", "")
    for event in (gate, asked, request):
        assert waits_for_a_person(event), event
    auto = ev.GateOpened(1.0, "review", 1, [], "ab" * 32, "auto")
    paused = ev.RunPaused(1.0, "ann", "lunch")
    for event in (auto, paused, ev.PhaseStarted(1.0, "p")):
        assert not waits_for_a_person(event), event
    line = log_line(asked, "r1", DB)
    assert line is not None and "it asks whether to go on (3 of 4 tasks failed)" in line
    assert f"phasegate resume r1{DB} goes on, phasegate cancel r1{DB} stops" in line
