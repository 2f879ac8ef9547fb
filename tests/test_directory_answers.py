"""What the Directory answers itself when no owner will (no actor system)."""

from __future__ import annotations

import base64
import pickle

from sessionward.actors.directory_answers import (
    activation_failed_answer,
    no_owner,
    parked_answer,
    passive_state,
    unfinished_turns_parked,
)
from sessionward.actors.messages import AbortTurn, CommandResult, ErrorReply, ParkedSession, QueryOwnerState, SubmitTurn
from sessionward.outcomes import OutcomeReason, TurnStatus
from sessionward.storage.inbox import InboxTurn
from sessionward.storage.store import SessionRecord

RECORD = SessionRecord("k", "sid", 1.0, 1.0)
PARKED = ParkedSession("k", "/s/sid.jsonl", "its owner was replaced 3 times in 600 s", 9.0)


def test_a_parked_session_fails_a_submit_with_reason_parked_and_the_way_out():
    answer = parked_answer(SubmitTurn("r", "k", "direct", "hi"), PARKED, RECORD, 10.0)
    outcome = answer.outcome
    assert (outcome.status, outcome.reason, outcome.request_id, outcome.lane) == \
        (TurnStatus.FAILED, OutcomeReason.PARKED, "r", "direct")
    assert "sessionward unpark k" in outcome.detail and outcome.finished_time == 10.0


def test_a_parked_session_answers_a_query_with_state_parked():
    state = parked_answer(QueryOwnerState("q", "k"), PARKED, RECORD, 10.0)
    assert (state.state, state.file, state.request_id, state.snapshot_time) == ("parked", PARKED.file, "q", 10.0)


def test_a_parked_session_refuses_a_command():
    answer = parked_answer(AbortTurn("a", "k", turn_id="t1"), PARKED, RECORD, 10.0)
    assert isinstance(answer, CommandResult) and not answer.ok and answer.turn_id == "t1"


def test_a_session_without_owner_is_passive_or_missing():
    assert passive_state(RECORD, "/f", "q", 3.0, missing=False).state == "passive"
    assert passive_state(RECORD, "/f", "q", 3.0, missing=True).state == "missing"
    assert not no_owner(AbortTurn("a", "k")).ok


def test_a_failed_activation_fails_submits_with_its_reason_and_answers_the_rest_with_its_kind():
    submit = activation_failed_answer(SubmitTurn("r", "k", "direct", "hi"), "transcript_missing", "gone", 4.0)
    assert submit.outcome.reason == OutcomeReason.TRANSCRIPT_MISSING and submit.outcome.detail == "gone"
    other = activation_failed_answer(SubmitTurn("r", "k", "direct", "hi"), "something_new", "x", 4.0)
    assert other.outcome.reason == OutcomeReason.UNAVAILABLE
    query = activation_failed_answer(QueryOwnerState("q", "k"), "owned_elsewhere", "locked", 4.0)
    assert query == ErrorReply("q", "owned_elsewhere", "locked")


def _turn(turn_id: str, reply_to, request_id: str) -> InboxTurn:
    blob = base64.b64encode(pickle.dumps((reply_to, request_id))).decode()
    return InboxTurn(turn_id, "cron", "text", "followup", 2.0, reply=blob)


def test_unfinished_acknowledged_turns_of_a_parked_file_are_failed_once_each():
    accepted = [_turn("t1", "client-1", "r1"), _turn("t2", "client-2", "r2"), _turn("t3", "client-3", "r3"),
                InboxTurn("t4", "cron", "text", "followup", 2.0)]  # no reply address kept
    told = unfinished_turns_parked("k", "why", accepted, finished={"t2"}, already_told={"r3"}, now=5.0)
    assert [(to, m.outcome.turn_id, m.outcome.request_id) for to, m in told] == [("client-1", "t1", "r1")]
    outcome = told[0][1].outcome
    assert outcome.reason == OutcomeReason.PARKED and outcome.accepted_time == 2.0 and outcome.lane == "cron"
