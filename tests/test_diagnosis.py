"""The doctor's rules over literal facts: no store, no process table, no actor system."""

from __future__ import annotations

from sessionward.operations.diagnosis import (
    FixKind,
    HostFacts,
    IndexedSession,
    Severity,
    StaleLock,
    StoreFacts,
    TranscriptFacts,
    diagnose,
    has_problems,
)

ROOT = "/s"
A = "/s/sessions/a.jsonl"


def codes(facts: StoreFacts) -> list[str]:
    return [f.code for f in diagnose(facts)]


def test_a_store_whose_index_and_transcripts_agree_is_fine():
    facts = StoreFacts(ROOT, "sessionward", indexed=(IndexedSession("agent:main:main", A, True),),
                       transcripts=(TranscriptFacts(A, indexed=True),))
    assert diagnose(facts) == ()
    assert not has_problems(diagnose(facts))


def test_an_empty_store_is_fine_and_a_missing_one_is_a_problem():
    assert diagnose(StoreFacts(ROOT, "sessionward")) == ()
    assert codes(StoreFacts(ROOT, "missing")) == ["no_store"]


def test_an_index_entry_without_its_transcript_is_a_problem_a_person_decides():
    (finding,) = diagnose(StoreFacts(ROOT, "sessionward", indexed=(IndexedSession("agent:main:x", A, False),)))
    assert finding.code == "missing_transcript" and finding.severity is Severity.PROBLEM
    assert finding.subject == "agent:main:x" and "new-transcript agent:main:x" in finding.advice
    assert finding.fix is None


def test_a_transcript_no_index_entry_names_is_reported_and_never_fixed():
    (finding,) = diagnose(StoreFacts(ROOT, "sessionward", transcripts=(TranscriptFacts(A, indexed=False),)))
    assert finding.code == "unindexed_transcript" and finding.subject == A and finding.fix is None


def test_a_torn_tail_is_fixable_and_bad_lines_are_not():
    facts = StoreFacts(ROOT, "sessionward", indexed=(IndexedSession("agent:main:main", A, True),),
                       transcripts=(TranscriptFacts(A, True, torn_tail_bytes=7, bad_lines=2,
                                                    quarantine=A + ".quarantine.jsonl"),))
    torn, bad = diagnose(facts)
    assert torn.code == "torn_tail" and torn.fix.kind is FixKind.MOVE_TORN_TAIL and torn.fix.path == A
    assert "7 bytes" in torn.fix.description
    assert bad.code == "quarantined_lines" and bad.fix is None and "2 lines" in bad.what
    assert A + ".quarantine.jsonl" in bad.what


def test_a_kept_torn_tail_is_only_a_note():
    findings = diagnose(StoreFacts(ROOT, "sessionward", torn_sidecars=(A + ".torn",)))
    assert [f.code for f in findings] == ["torn_tail_kept"] and not has_problems(findings)


def test_a_dead_hosts_record_and_leftover_processes_are_fixable_by_their_pids():
    host = HostFacts("/s/sessionward.system.json", 4242, alive=False, port=1900, leftover_pids=(11, 12))
    leftovers, record = diagnose(StoreFacts(ROOT, "sessionward", host=host))
    assert leftovers.code == "leftover_processes" and leftovers.fix.kind is FixKind.END_LEFTOVERS
    assert leftovers.fix.pids == (11, 12) and "11, 12" in leftovers.fix.description
    assert record.code == "stale_record" and record.fix.kind is FixKind.REMOVE_STALE_RECORD
    assert record.fix.path == "/s/sessionward.system.json"


def test_a_store_served_by_a_live_system_is_a_note_with_no_fix():
    findings = diagnose(StoreFacts(ROOT, "sessionward", host=HostFacts("/s/r.json", 7, alive=True, port=1900)))
    assert [(f.code, f.severity, f.fix) for f in findings] == [("served", Severity.NOTE, None)]
    assert "pid 7 on port 1900" in findings[0].what


def test_an_openclaw_agent_of_the_sqlite_era_is_a_problem():
    (finding,) = diagnose(StoreFacts(ROOT, "openclaw", sqlite_agents=(("main", "its sessions are in x.sqlite"),)))
    assert finding.code == "openclaw_sqlite_era" and "x.sqlite" in finding.what and finding.fix is None


def test_only_a_stale_openclaw_lock_is_reported():
    facts = StoreFacts(ROOT, "openclaw", locks=(StaleLock("/l1", 99, stale=True), StaleLock("/l2", 98, stale=False)))
    (finding,) = diagnose(facts)
    assert finding.code == "stale_lock" and finding.fix.kind is FixKind.REMOVE_STALE_LOCK
    assert finding.fix.path == "/l1" and "pid 99" in finding.what


def test_an_unreadable_index_is_a_problem():
    assert codes(StoreFacts(ROOT, "sessionward", index_error="not JSON")) == ["unreadable_index"]
