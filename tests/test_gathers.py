"""Admin fan-out: gathering owners' states (no actor system)."""

from __future__ import annotations

from sessionward.actors.gathers import GatherKind, Gathers, sessions_page
from sessionward.actors.messages import OwnerState, QuerySessions


def _state(file: str, key: str, request_id: str = "", lane: str | None = None) -> OwnerState:
    return OwnerState(key, "id", file, "idle", "t" if lane else None, lane, None, None, 0, (), 1,
                      request_id=request_id)


def test_a_gather_finishes_when_every_owner_answered():
    gathers = Gathers()
    gather_id = gathers.start(GatherKind.SESSIONS, None, "client", ["/a", "/b"], 5.0)
    assert gathers.answer(_state("/a", "ka", gather_id)) == []
    assert gathers.answer(_state("/b", "kb", gather_id)) == [gather_id]
    gather = gathers.finish(gather_id)
    assert gather is not None and gather.sent_time == 5.0
    assert [s.file for s in gather.answers] == ["/a", "/b"] and gather.waiting == set()
    assert gathers.finish(gather_id) is None


def test_one_answer_serves_every_gather_waiting_on_that_owner():
    gathers = Gathers()
    first = gathers.start(GatherKind.SESSIONS, None, "c1", ["/a"], 1.0)
    second = gathers.start(GatherKind.SYSTEM, None, "c2", ["/a"], 2.0)
    assert sorted(gathers.answer(_state("/a", "ka", first))) == sorted([first, second])


def test_an_answer_from_an_owner_no_gather_waits_on_changes_nothing():
    gathers = Gathers()
    gather_id = gathers.start(GatherKind.SESSIONS, None, "c", ["/a"], 1.0)
    assert gathers.answer(_state("/zzz", "k")) == []
    assert gathers.get(gather_id).waiting == {"/a"}


def test_a_sessions_page_names_the_silent_owners_sorted():
    request = QuerySessions("r", limit=1)
    answers = [_state("/b", "kb"), _state("/a", "ka")]
    page = sessions_page(request, answers, ["kz", "ky"])
    assert page.request_id == "r" and page.total == 2
    assert [s.session_key for s in page.sessions] == ["ka"]  # sorted by key, one per page
    assert page.unanswered == ("ky", "kz")


def test_an_unbounded_sessions_page_is_every_answer():
    answers = [_state("/b", "kb"), _state("/a", "ka")]
    page = sessions_page(QuerySessions("r", limit=1, unbounded=True), answers, [])
    assert page.sessions == tuple(answers) and page.total == 2
