"""``ErrorReply.kind``: what each kind means, in one table (pure).

An actor that refuses a request answers ``ErrorReply(request_id, kind, message)``; actors
never send exceptions (Thespian pickles messages, and exceptions with custom ``__init__``
arguments fail to unpickle). Each kind means one exception on the caller's side
(``Runtime`` raises it) and one outcome reason where a refused submit must still end with
an outcome (a timer lane's turn, a turn held for an owner that failed to activate).
"""

from __future__ import annotations

from sessionward import errors
from sessionward.outcomes import OutcomeReason

R = OutcomeReason

KINDS: dict[str, tuple[type[errors.SessionwardError], OutcomeReason]] = {
    "bad_input": (errors.BadInputError, R.BAD_INPUT),
    "invalid_message": (errors.InvalidMessageError, R.BAD_INPUT),
    "invalid_session_key": (errors.InvalidSessionKeyError, R.BAD_INPUT),
    "path_escapes_store": (errors.PathEscapesStoreError, R.BAD_INPUT),
    "corrupt_transcript": (errors.CorruptTranscriptError, R.BAD_INPUT),
    "transcript_missing": (errors.TranscriptMissingError, R.TRANSCRIPT_MISSING),
    "owned_elsewhere": (errors.SessionOwnedElsewhereError, R.OWNED_ELSEWHERE),
    "unavailable": (errors.UnavailableError, R.UNAVAILABLE),
    "io_error": (errors.UnavailableError, R.UNAVAILABLE),
    "parked": (errors.SessionParkedError, R.PARKED),
    "wrong_store": (errors.WrongStoreError, R.BAD_INPUT),
    "not_found": (errors.SessionwardError, R.BAD_INPUT),
    "unknown_message": (errors.SessionwardError, R.BAD_INPUT),
    "internal_error": (errors.SessionwardError, R.INTERNAL_ERROR),
}
"""kind -> (the exception ``Runtime`` raises, the reason of an outcome that ends a refused turn)."""


def error_for(kind: str, message: str) -> errors.SessionwardError:
    """The exception for an ``ErrorReply`` (``SessionwardError`` for a kind not listed)."""
    return KINDS.get(kind, (errors.SessionwardError, R.UNAVAILABLE))[0](message)


def reason_for(kind: str) -> OutcomeReason:
    """The outcome reason for a turn refused with ``kind`` (``unavailable`` for one not listed)."""
    return KINDS.get(kind, (errors.SessionwardError, R.UNAVAILABLE))[1]
