"""Outcome records: how every accepted turn ends, and why.

Every accepted turn ends with exactly one ``TurnOutcome`` whose ``status`` is terminal
(``completed``, ``failed``, ``cancelled``); a turn coalesced into another first gets
``merged`` and then the carrying turn's final outcome. Reasons are a closed set, so a
caller can tell a coordination outcome (never a reason for model fallback) from a provider
failure.
"""

from __future__ import annotations

import enum

import attrs


class TurnStatus(enum.StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Spelled with two l's everywhere: code, enums, JSON."""
    MERGED = "merged"
    """Coalesced into ``merged_into`` (collect mode) or handed to it (steer); not final."""


class OutcomeReason(enum.StrEnum):
    """Why a turn did not simply complete."""

    # coordination: the runtime, not the model, stopped or refused the turn
    BUSY = "busy"
    HEARTBEAT_SKIPPED = "heartbeat_skipped"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
    CANCELLED = "cancelled"
    DROPPED = "dropped"
    STALLED = "stalled"
    FENCED = "fenced"
    OWNED_ELSEWHERE = "owned_elsewhere"
    SHUT_DOWN = "shut_down"
    DRAINING = "draining"
    OWNER_LOST = "owner_lost"
    LEASE_LOST = "lease_lost"
    """The owner's member stopped hearing from the convention's leader (a partition) for the
    lease time, so another member may take the session: the running turn ended here, its
    file was released. Queued turns are not failed: the session's next owner replays them."""
    UNAVAILABLE = "unavailable"
    PARKED = "parked"
    """The session's owner had to be replaced too often; it waits for an admin's ``unpark``."""
    TRANSCRIPT_MISSING = "transcript_missing"
    """The index names the session's transcript and it is not there (moved, archived or
    deleted). Nothing is created: see ``Runtime.new_transcript``."""
    # the model
    PROVIDER_ERROR = "provider_error"
    # the input
    BAD_INPUT = "bad_input"
    # a bug in sessionward, turned into an outcome instead of a re-run
    INTERNAL_ERROR = "internal_error"


COORDINATION_REASONS = frozenset(
    {
        OutcomeReason.BUSY,
        OutcomeReason.HEARTBEAT_SKIPPED,
        OutcomeReason.INTERRUPTED,
        OutcomeReason.ABORTED,
        OutcomeReason.CANCELLED,
        OutcomeReason.DROPPED,
        OutcomeReason.STALLED,
        OutcomeReason.FENCED,
        OutcomeReason.OWNED_ELSEWHERE,
        OutcomeReason.SHUT_DOWN,
        OutcomeReason.DRAINING,
        OutcomeReason.OWNER_LOST,
        OutcomeReason.LEASE_LOST,
        OutcomeReason.UNAVAILABLE,
        OutcomeReason.PARKED,
        OutcomeReason.TRANSCRIPT_MISSING,
    }
)
"""Reasons that must never trigger model fallback."""


@attrs.frozen
class TurnOutcome:
    """How one turn ended (or was merged)."""

    turn_id: str
    """The turn's id; empty when the turn was refused before it got one."""
    session_key: str
    status: TurnStatus
    reply: str | None = None
    """The assistant's text for ``completed`` (and the partial text for a failed turn)."""
    reason: OutcomeReason | None = None
    """Why the turn did not complete; None for ``completed``."""
    detail: str = ""
    """Human-readable detail (an error message, the provider failure text)."""
    provider_error: str | None = None
    """The provider error kind for ``provider_error`` (``rate_limit``, ``timeout``, ...)."""
    merged_into: str | None = None
    """For ``merged``: the turn that carries this submit's text."""
    lane: str = ""
    mode_applied: str = ""
    """The queue mode that was applied (``followup`` when ``steer`` fell back)."""
    request_id: str = ""
    """The submit request this answers (a client-side correlation id)."""
    accepted_time: float | None = None
    started_time: float | None = None
    finished_time: float | None = None
    stream_seconds: float = 0.0
    """Time the provider itself spent streaming (the overhead benchmark subtracts it)."""

    @property
    def final(self) -> bool:
        return self.status is not TurnStatus.MERGED
