"""``ErrorReply.kind``: what each kind means, in one table (pure).

An actor that refuses a request answers ``ErrorReply(request_id, kind, message)``; actors
never send exceptions (Thespian pickles messages, and exceptions with custom ``__init__``
arguments fail to unpickle). Each kind means one exception on the caller's side
(``Runtime`` raises it) and one outcome reason where a refused submit must still end with
an outcome (a timer lane's turn, a turn held for an owner that failed to activate).
"""

from __future__ import annotations

import enum

from sessionward import errors
from sessionward.outcomes import OutcomeReason

R = OutcomeReason


class ErrorKind(enum.StrEnum):
    """Why a request could not be served (``ErrorReply.kind``); ``KINDS`` gives each its
    exception and its outcome reason."""

    BAD_INPUT = "bad_input"
    INVALID_MESSAGE = "invalid_message"
    INVALID_SESSION_KEY = "invalid_session_key"
    PATH_ESCAPES_STORE = "path_escapes_store"
    CORRUPT_TRANSCRIPT = "corrupt_transcript"
    TRANSCRIPT_MISSING = "transcript_missing"
    OWNED_ELSEWHERE = "owned_elsewhere"
    IO_ERROR = "io_error"
    """The transcript could not be opened (an ``OSError`` at activation)."""
    UNAVAILABLE = "unavailable"
    PARKED = "parked"
    NOT_FOUND = "not_found"
    WRONG_STORE = "wrong_store"
    UNKNOWN_MESSAGE = "unknown_message"
    NOT_OWNER = "not_owner"
    """A message sent to an owner directly reached one that does not (or no longer) serve
    its session: nothing ran; the client asks the Directory (it never raises this itself)."""
    INTERNAL_ERROR = "internal_error"


KINDS: dict[ErrorKind, tuple[type[errors.SessionwardError], OutcomeReason]] = {
    ErrorKind.BAD_INPUT: (errors.BadInputError, R.BAD_INPUT),
    ErrorKind.INVALID_MESSAGE: (errors.InvalidMessageError, R.BAD_INPUT),
    ErrorKind.INVALID_SESSION_KEY: (errors.InvalidSessionKeyError, R.BAD_INPUT),
    ErrorKind.PATH_ESCAPES_STORE: (errors.PathEscapesStoreError, R.BAD_INPUT),
    ErrorKind.CORRUPT_TRANSCRIPT: (errors.CorruptTranscriptError, R.BAD_INPUT),
    ErrorKind.TRANSCRIPT_MISSING: (errors.TranscriptMissingError, R.TRANSCRIPT_MISSING),
    ErrorKind.OWNED_ELSEWHERE: (errors.SessionOwnedElsewhereError, R.OWNED_ELSEWHERE),
    ErrorKind.UNAVAILABLE: (errors.UnavailableError, R.UNAVAILABLE),
    ErrorKind.IO_ERROR: (errors.UnavailableError, R.UNAVAILABLE),
    ErrorKind.PARKED: (errors.SessionParkedError, R.PARKED),
    ErrorKind.WRONG_STORE: (errors.WrongStoreError, R.BAD_INPUT),
    ErrorKind.NOT_FOUND: (errors.SessionwardError, R.BAD_INPUT),
    ErrorKind.UNKNOWN_MESSAGE: (errors.SessionwardError, R.BAD_INPUT),
    ErrorKind.NOT_OWNER: (errors.UnavailableError, R.UNAVAILABLE),
    ErrorKind.INTERNAL_ERROR: (errors.SessionwardError, R.INTERNAL_ERROR),
}
"""kind -> (the exception ``Runtime`` raises, the reason of an outcome that ends a refused turn)."""


def error_for(kind: str, message: str) -> errors.SessionwardError:
    """The exception for an ``ErrorReply`` (``SessionwardError`` for a kind not listed)."""
    return _meaning(kind)[0](message)


def reason_for(kind: str) -> OutcomeReason:
    """The outcome reason for a turn refused with ``kind`` (``unavailable`` for one not listed)."""
    return _meaning(kind)[1]


def _meaning(kind: str) -> tuple[type[errors.SessionwardError], OutcomeReason]:
    # A kind this side does not know (a newer peer's) is served, not raised on.
    try:
        return KINDS[ErrorKind(kind)]
    except ValueError:
        return errors.SessionwardError, R.UNAVAILABLE
