"""The turn protocol: what a client (Runtime, AdminClient, a lane) asks of a session's
turns, and what it is answered. Frozen, slotted attrs records; re-exported by
``sessionward.actors.messages``, which says the rules every record here follows.

Fields that name one of a closed set are ``StrEnum``s whose values are the strings the
protocol always used: logs, JSON and a peer that still sends the plain string all keep
working, because each such field converts what it is given (``"collect"`` becomes
``QueueMode.COLLECT``) and a ``StrEnum`` compares equal to its value.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from sessionward.error_kinds import ErrorKind
from sessionward.lanes.queue_policy import QueueMode
from sessionward.outcomes import OutcomeReason, TurnOutcome

ActorAddress = Any  # thespian.actors.ActorAddress; kept untyped so this module imports no engine


class AcceptDecision(enum.StrEnum):
    """What the owner did with an accepted submit (``TurnAccepted.decision``)."""

    QUEUED = "queued"
    """It waits in the queue (``position`` 0 runs next)."""
    COLLECTING = "collecting"
    """It is in the collect buffer and will be coalesced into one turn."""
    STEERED = "steered"
    """It was handed to the running turn; it ends ``merged`` into that turn."""
    INTERRUPTING = "interrupting"
    """The running turn is being aborted; this one runs next."""
    DUPLICATE = "duplicate"
    """A retry with a known idempotency key: ``turn_id`` is the first submit's turn."""


@attrs.frozen
class Route:
    """Which owner a client addressed directly (issue 17 item 1): the file it serves and
    its epoch, as that owner's ``TurnAccepted`` said. An owner that is not (or no longer)
    this one answers ``ErrorReply`` kind ``not_owner`` and runs nothing; the client then
    asks the Directory. None on a message sent through the Directory."""

    path: str
    epoch: int


@attrs.frozen
class SubmitTurn:
    """Run a turn on a session. Answered by ``TurnAccepted`` or ``TurnOutcome`` (refused),
    then exactly one final ``TurnOutcome`` (after any ``merged``)."""

    request_id: str
    session_key: str
    lane: str
    text: str
    mode: QueueMode | None = attrs.field(default=None, converter=attrs.converters.optional(QueueMode))
    """``followup``, ``collect``, ``steer``, ``interrupt``; None: the session's default."""
    idempotency_key: str | None = None
    """A client's retry with the same key gets the first submit's turn, not a new one."""
    reply_to: ActorAddress | None = None
    """Where acceptance, deltas and outcome go; the Directory fills in the sender."""
    want_deltas: bool = False
    """Also send ``StreamDelta`` messages while the turn streams."""
    route: Route | None = None
    """Set when sent to the owner directly, not through the Directory (see ``Route``)."""


@attrs.frozen
class SubmitTurns:
    """Several ``SubmitTurn`` sent to one owner directly as one message (each with its
    ``route``), when a client had more than one queued for its file: one transport pass,
    and one inbox ``fsync``, for all of them (``sessionward.submit_batches``). The owner
    takes them in order, exactly as if they had come one by one, and answers each as it
    would have, grouped in ``Answers`` per submitter."""

    submits: tuple[SubmitTurn, ...] = attrs.field(converter=tuple)


@attrs.frozen
class Answers:
    """What an owner answered to the submits of one ``SubmitTurns`` that share a submitter,
    in the order it answered them (``TurnAccepted``, ``OutcomeMessage``, ``ErrorReply``):
    the client handles each as if it had come alone."""

    answers: tuple[Any, ...] = attrs.field(converter=tuple)


@attrs.frozen
class AbortTurn:
    """Abort a session's running turn (only ``turn_id`` if given). Answered by ``CommandResult``."""

    request_id: str
    session_key: str
    turn_id: str | None = None
    reason: OutcomeReason = attrs.field(default=OutcomeReason.ABORTED, converter=OutcomeReason)
    """``aborted`` (admin) or ``stalled`` (recovery): the aborted turn's outcome reason."""
    reply_to: ActorAddress | None = None


@attrs.frozen
class CancelTurn:
    """Cancel a queued (not yet running) turn. Answered by ``CommandResult``."""

    request_id: str
    session_key: str
    turn_id: str
    reply_to: ActorAddress | None = None


@attrs.frozen
class NudgeTurn:
    """Recovery's first step: the owner pings its worker's stream. Answered by ``CommandResult``."""

    request_id: str
    session_key: str
    turn_id: str
    reply_to: ActorAddress | None = None


@attrs.frozen
class TurnAccepted:
    """The turn is recorded in the session's inbox: it will get an outcome."""

    request_id: str
    session_key: str
    turn_id: str
    decision: AcceptDecision = attrs.field(converter=AcceptDecision)
    position: int = 0
    mode_applied: QueueMode = attrs.field(default=QueueMode.FOLLOWUP, converter=QueueMode)
    """The mode the turn got: ``followup`` when a ``steer`` fell back."""
    owner: ActorAddress | None = None
    """The owner that accepted it, and ``route`` its file and epoch: where the client may
    send this session's next turns and queries directly."""
    route: Route | None = None


@attrs.frozen
class OwnerMoved:
    """The Directory to its registered clients: the owner of ``path`` is no longer live
    (passivating, fenced, lost, parked or re-homed). A client forgets its direct route to
    it, and sends again through the Directory the direct submits that owner had not
    acknowledged (the Directory cannot forward those again: it never saw them)."""

    path: str


@attrs.frozen
class StreamDelta:
    """Assistant text as it streams (only to submitters that asked for deltas)."""

    request_id: str
    turn_id: str
    text: str


@attrs.frozen
class OutcomeMessage:
    """Carries a ``TurnOutcome`` to its submitter."""

    outcome: TurnOutcome


@attrs.frozen
class CommandResult:
    """The answer to a command (abort, cancel, nudge, bind, ...): done or not, and why."""

    request_id: str
    ok: bool
    detail: str = ""
    turn_id: str | None = None


@attrs.frozen
class ErrorReply:
    """A request could not be served. ``kind`` names the error class on the client side."""

    request_id: str
    kind: ErrorKind = attrs.field(converter=ErrorKind)
    message: str
