"""``ErrorReply.kind``: one table gives each kind its exception and its outcome reason."""

from __future__ import annotations

import pytest

from sessionward import errors
from sessionward.actors.messages import ErrorReply
from sessionward.client import error_from_reply
from sessionward.error_kinds import KINDS, ErrorKind, error_for, reason_for
from sessionward.outcomes import OutcomeReason


def test_every_kind_an_actor_can_send_has_an_exception_and_a_reason():
    # ErrorReply.kind is an ErrorKind (its converter refuses anything else), so this covers
    # every kind an actor can send.
    assert set(KINDS) == set(ErrorKind)
    with pytest.raises(ValueError):
        ErrorReply("r1", "no_such_kind", "x")


def test_a_reply_becomes_the_typed_error_of_its_kind():
    error = error_from_reply(ErrorReply("r1", "invalid_session_key", "bad key"))
    assert type(error) is errors.InvalidSessionKeyError and str(error) == "bad key"
    assert isinstance(error_for("wrong_store", "x"), errors.WrongStoreError)
    assert type(error_for("something_new", "x")) is errors.SessionwardError


def test_a_refused_turn_gets_the_reason_of_its_kind():
    assert reason_for("owned_elsewhere") is OutcomeReason.OWNED_ELSEWHERE
    assert reason_for("transcript_missing") is OutcomeReason.TRANSCRIPT_MISSING
    assert reason_for("invalid_session_key") is OutcomeReason.BAD_INPUT
    assert reason_for("internal_error") is OutcomeReason.INTERNAL_ERROR
    assert reason_for("something_new") is OutcomeReason.UNAVAILABLE
