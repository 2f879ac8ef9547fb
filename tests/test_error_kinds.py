"""``ErrorReply.kind``: one table gives each kind its exception and its outcome reason."""

from __future__ import annotations

import re
from pathlib import Path

from sessionward import errors
from sessionward.actors.messages import ErrorReply
from sessionward.client import error_from_reply
from sessionward.error_kinds import KINDS, error_for, reason_for
from sessionward.outcomes import OutcomeReason

ROOT = Path(__file__).parent.parent


def _kinds_sent_in_the_code() -> set[str]:
    found: set[str] = set()
    for folder in ("actors", "lanes", "recovery", "sessionward"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r'ErrorReply\([^,()]+(?:\([^()]*\))?, "([a-z_]+)"', text))
            found |= set(re.findall(r'_fail_activation\(\w+, "([a-z_]+)"', text))
    return found


def test_every_kind_an_actor_sends_is_in_the_table():
    sent = _kinds_sent_in_the_code()
    assert {"invalid_session_key", "unavailable", "internal_error", "owned_elsewhere", "io_error"} <= sent
    assert sent <= set(KINDS), sorted(sent - set(KINDS))


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
