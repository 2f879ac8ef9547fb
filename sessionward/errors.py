"""The error tree: one root, then coordination, provider and bad-input branches.

Errors are raised only on the caller's side (``Runtime`` and pure helpers). Actors never
send exceptions to each other: they send outcome records (``TurnOutcome``), because
Thespian pickles messages and exceptions with custom ``__init__`` arguments fail to
unpickle.
"""

from __future__ import annotations


class SessionwardError(Exception):
    """Root of every error sessionward raises."""


class CoordinationError(SessionwardError):
    """The runtime refused or stopped a turn for a coordination reason.

    Busy, aborted, fenced, draining, shut down, owned elsewhere. Never a reason for model
    fallback: trying another model cannot fix a coordination problem.
    """


class SessionBusyError(CoordinationError):
    """A session's queue is full; the turn was not accepted."""


class SessionOwnedElsewhereError(CoordinationError):
    """Another process (another runtime on the same store) holds the session file's lock."""


class FencedError(CoordinationError):
    """Something outside the owner changed the transcript; the owner stopped writing."""


class UnavailableError(CoordinationError):
    """The actor system (or a cluster's leader) did not acknowledge a request in time.

    The request may still be served later: retry a submit with the same idempotency key
    (``TurnHandle.idempotency_key``) to learn its outcome instead of running it twice.
    """


class SessionParkedError(CoordinationError):
    """The session is parked: its owner had to be replaced too often in a short time.

    Nothing restarts it until an admin runs ``sessionward unpark KEY`` (``Runtime.unpark``).
    """


class SessionwardTimeoutError(CoordinationError, TimeoutError):
    """No answer or outcome within the caller's timeout. Also a builtin ``TimeoutError``.

    The request may still be served later: a turn's outcome can still arrive, and a submit
    retried with the same idempotency key is answered from its first run.
    """


class RuntimeClosedError(CoordinationError):
    """The runtime is shut down or shutting down."""


class ProviderError(SessionwardError):
    """A model provider failed (rate limit, overload, timeout, 5xx, connection, ...)."""


class TurnFailedError(SessionwardError):
    """``TurnHandle.result(raise_on_failure=True)`` saw an outcome other than completed."""


class BadInputError(SessionwardError, ValueError):
    """Input the runtime refuses: nothing already written is touched."""


class InvalidSessionKeyError(BadInputError):
    """A session key is empty, malformed, too long, or holds forbidden characters."""


class InvalidLaneError(BadInputError):
    """A lane name is empty, too long, or has a malformed part (see
    ``sessionward.lanes.routing.validate_lane_name``)."""


class UnroutableLaneError(BadInputError):
    """A lane of kind ``other`` has no default session; the submitter must name one."""


class PathEscapesStoreError(BadInputError):
    """A session id or file path would leave the store directory."""


class InvalidMessageError(BadInputError):
    """A message's text is not valid UTF-8, is too large, or is otherwise unusable."""


class CorruptTranscriptError(BadInputError):
    """A transcript cannot be used (for example its header is missing or not a session)."""


class StoreInUseError(CoordinationError):
    """Another live actor system serves this store (its host process is alive)."""


class WrongStoreError(CoordinationError):
    """A request reached an actor system that serves another store."""


class PortInUseError(CoordinationError):
    """The actor system's port is held by something else (another system or any program)."""


class InvalidPortError(BadInputError):
    """A port number outside 1-65535."""


class StoreUnusableError(BadInputError):
    """The store path cannot be used: it is a file, its parent is missing, or it cannot be
    read or written."""


class OpenclawStateNotSupportedError(BadInputError):
    """An openclaw state directory of the SQLite era (openclaw 2026.9 and later): refused."""


class TranscriptMissingError(BadInputError):
    """The index names a transcript that is not there; no new one is started silently."""


# -- daemon and cluster ----------------------------------------------------------------


class DaemonAlreadyRunningError(CoordinationError):
    """Another daemon holds this store's lock."""


class DaemonUnreachableError(CoordinationError):
    """No daemon answers for this store or port."""


class NoMemberError(CoordinationError):
    """No live member can take a new owner."""


# -- the shared secret (sessionward.hosting.secret, sessionward.hosting.transport) ---------------------


class InsecureSecretFileError(BadInputError):
    """The secret file can be read by its group or by others (it must be mode 0600 or
    stricter), or it is not owned by this user. The message names the file and the fix."""


class MissingSecretError(BadInputError):
    """No secret was found for an actor system that needs one (the message lists where
    sessionward looked), or the secret is empty or too short."""


class WrongSecretError(CoordinationError):
    """The actor system refused this process's frames: the two hold different secrets
    (or the other side authenticates nothing). Nothing was sent to its actors."""


# -- lanes and their configuration ------------------------------------------------------


class InvalidConfigError(BadInputError):
    """A configuration (file or record) is malformed; the message says where and why."""


class UnknownConfigKeyError(InvalidConfigError):
    """A configuration table holds a key that no record has (usually a typo)."""

    def __init__(self, key: str, where: str, source: str | None = None) -> None:
        # Every value is one of the exception's args, so it pickles and unpickles unchanged.
        super().__init__(key, where, source)
        self.key = key
        """The unknown key."""
        self.where = where
        """The table that holds it, such as ``agents[0].heartbeat`` or ``runtime.recovery``."""
        self.source = source
        """The file it is in, or None for text or data given in code."""

    def __str__(self) -> str:
        of = f" of {self.source}" if self.source is not None else ""
        return f"unknown key {self.key!r} in {self.where}{of}"


class InvalidCronExpressionError(InvalidConfigError):
    """A cron job's ``schedule`` is not a valid five-field cron expression."""
