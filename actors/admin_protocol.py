"""The admin protocol: queries about sessions and the system, admin commands, and the
Directory's start-up. Frozen, slotted attrs records; re-exported by
``sessionward.actors.messages``, which says the rules every record here follows.

Enum fields convert the plain strings they are given (see ``turn_protocol``).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from sessionward.actors.turn_protocol import Route
from sessionward.config import RuntimeConfig
from sessionward.lanes.queue_policy import QueueMode
from sessionward.outcomes import OutcomeReason, TurnStatus

ActorAddress = Any  # thespian.actors.ActorAddress; kept untyped so this module imports no engine


class OwnerPhase(enum.StrEnum):
    """Where a session stands (``OwnerState.state``): an owner's phase, or, for a session
    without a live owner, what the Directory knows of it."""

    STARTING = "starting"
    """The owner is activating (opening, validating and replaying its file)."""
    IDLE = "idle"
    RUNNING = "running"
    DRAINING = "draining"
    """The runtime is shutting down: every accepted turn is being given its outcome."""
    FENCED = "fenced"
    """An outside write was seen; the owner released the file and awaits its end."""
    STOPPING = "stopping"
    """Passivating or exiting; messages for it go to the file's next owner."""
    PASSIVE = "passive"
    """Known to the Directory, no owner running (the Directory answers for it)."""
    MISSING = "missing"
    """Known to the Directory, and its transcript is gone."""
    PARKED = "parked"
    """Replaced too often; waits for an admin's ``unpark``."""


# -- queries and admin commands ---------------------------------------------------------


@attrs.frozen
class QueryOwnerState:
    """Ask one session's owner for an ``OwnerState``. Answered by it or ``ErrorReply``.

    ``activate=False`` (admin and recovery) does not start an owner for a passive session.
    """

    request_id: str
    session_key: str
    reply_to: ActorAddress | None = None
    activate: bool = False
    include_history: bool = False
    route: Route | None = None
    """Set when sent to the owner directly (see ``turn_protocol.Route``)."""


@attrs.frozen
class QuerySessions:
    """List live owners' states. Answered by ``SessionsPage``."""

    request_id: str
    active_only: bool = False
    lane: str | None = None
    limit: int = 100
    offset: int = 0
    reply_to: ActorAddress | None = None
    unbounded: bool = False
    """Every live session in one page (recovery's sweep; not for admin output)."""
    timeout: float | None = None
    """How long to wait for owners (default: the recovery config's ``status_timeout``)."""


@attrs.frozen
class QuerySystem:
    """Directory-wide figures. Answered by ``SystemStatus``."""

    request_id: str
    reply_to: ActorAddress | None = None
    timeout: float | None = None
    """How long to wait for owners (default: the recovery config's ``status_timeout``)."""


@attrs.frozen
class StopSpares:
    """The runtime is closing: start no more owners for the pool, end the spares, and answer
    (``SparesStopped``) once no owner asked of the factory is still on its way. Sent by
    ``Runtime.close`` before the actor system's shutdown: an owner forked a few ms before its
    factory's ``ActorExitRequest`` did not get its own exit request until Thespian's 10 s
    shutdown limit (``docs/performance.md``), so no fork may be under way then."""

    request_id: str
    reply_to: ActorAddress | None = None


@attrs.frozen
class SparesStopped:
    """Answer to ``StopSpares``: nothing is being forked for this Directory any more."""

    request_id: str


@attrs.frozen
class BindSession:
    """Make ``session_key`` use the same transcript as ``target_key``. Answered by ``CommandResult``."""

    request_id: str
    session_key: str
    target_key: str
    reply_to: ActorAddress | None = None


@attrs.frozen
class StartNewTranscript:
    """Let the next activation of ``session_key`` create its missing transcript (admin).

    Answered by ``CommandResult``: refused when the key is unknown or its file exists.
    """

    request_id: str
    session_key: str
    reply_to: ActorAddress | None = None


@attrs.frozen
class RegisterClient:
    """A client mailbox introduces itself; the reply tells it its own address."""

    request_id: str


@attrs.frozen
class ClientRegistered:
    """The answer to ``RegisterClient``: the client mailbox's own address."""

    request_id: str
    address: ActorAddress


@attrs.frozen
class ReplaceOwner:
    """Recovery: the owner of ``session_key`` is wedged; end its process and start anew."""

    request_id: str
    session_key: str
    reason: str = "wedged"
    """Why, in free text for logs and the admin record (recovery's escalation says it)."""
    reply_to: ActorAddress | None = None


@attrs.frozen
class UnparkSession:
    """Admin: start a parked session again. Answered by ``CommandResult``.

    The new owner fails (reason ``parked``) every turn its predecessors left unfinished:
    their submitters were told so when the session was parked, so none of them runs now.
    """

    request_id: str
    session_key: str
    reply_to: ActorAddress | None = None


# -- snapshots (replies to queries) -------------------------------------------------------


@attrs.frozen
class TurnRecord:
    """A finished turn, as an owner remembers its recent history."""

    turn_id: str
    lane: str
    status: TurnStatus = attrs.field(converter=TurnStatus)
    reason: OutcomeReason | None = attrs.field(converter=attrs.converters.optional(OutcomeReason))
    finished_time: float


@attrs.frozen
class QueuedTurn:
    """A turn waiting in an owner's queue, as a snapshot shows it (the order it would run)."""

    turn_id: str
    """What ``cancel`` (``CancelTurn``) names."""
    lane: str
    mode: QueueMode = attrs.field(converter=QueueMode)
    """The queue mode it was admitted with (``followup``, ``collect``, ...)."""
    accepted_time: float
    """When the owner accepted it (epoch seconds)."""


@attrs.frozen
class OwnerState:
    """A snapshot of one owner (never its live queue)."""

    session_key: str
    session_id: str
    file: str
    state: OwnerPhase = attrs.field(converter=OwnerPhase)
    turn_id: str | None
    lane: str | None
    turn_started_time: float | None
    last_progress_time: float | None
    queue_depth: int
    queued_lanes: tuple[str, ...]
    pid: int
    keys: tuple[str, ...] = ()
    """Every session key routed to this file."""
    turns_completed: int = 0
    turns_failed: int = 0
    heartbeats_skipped: int = 0
    history: tuple[TurnRecord, ...] = ()
    request_id: str = ""
    snapshot_time: float = 0.0
    member: str = "local"
    """The convention member hosting this owner."""
    owner_epoch: int = 0
    """This owner's activation number for its file (written on every entry as ``ownerEpoch``)."""
    queued_turns: tuple[QueuedTurn, ...] = ()
    """The waiting turns with their ids, in the order they would run (``queued_lanes``
    holds the same turns' lanes, in the same order)."""


@attrs.frozen
class SessionsPage:
    """The answer to ``QuerySessions``: one page of owner snapshots."""

    request_id: str
    sessions: tuple[OwnerState, ...]
    total: int
    unanswered: tuple[str, ...] = ()
    """Session keys whose owner did not answer in time (listed, not hidden)."""


@attrs.frozen
class SystemStatus:
    """The answer to ``QuerySystem``: Directory-wide figures."""

    request_id: str
    live_owners: int
    known_sessions: int
    running_by_lane: dict[str, int]
    queued_by_lane: dict[str, int]
    fenced_files: tuple[str, ...]
    owners_replaced: int
    pid: int
    versions: dict[str, str]
    members: dict[str, int] = attrs.Factory(dict)
    """Live owners per convention member (one entry, ``local``, without a convention)."""
    leader: str = "local"
    rehomed_sessions: int = 0
    """Sessions moved to another member after their member was lost."""
    last_rehome_seconds: float | None = None
    """From a member's loss to the last of its sessions re-activated elsewhere."""
    parked: tuple[ParkedSession, ...] = ()
    """Sessions parked after too many owner replacements (``unpark`` starts them again)."""
    factory_pid: int = 0
    """The process this member's owners are forked from (``OwnerFactory``); 0 before its
    first answer, or while there is none (it died, and the next has not answered yet)."""


@attrs.frozen
class ParkedSession:
    """A session the Directory stopped restarting (see ``sessionward.recovery.liveness``)."""

    session_key: str
    file: str
    reason: str
    """Why, in one line (e.g. ``its owner was replaced 3 times in 600 s``)."""
    parked_time: float
    """When it was parked (epoch seconds)."""


# -- Runtime -> Directory ---------------------------------------------------------------


@attrs.frozen
class ConfigureDirectory:
    """The Directory's start-up: where the store is, and what owners are given."""

    request_id: str
    store_root: str
    config: RuntimeConfig
    provider: Any
    cluster: Any = None
    """A ``ClusterConfig`` when this system leads a convention; None for one system."""
    system_id: str | None = None
    """The id the store's record gives this system; requests wrapped in ``ForStore`` must
    name it. None: no check (a system that records no store)."""


@attrs.frozen
class ForStore:
    """A client's request to the Directory, naming the system (and so the store) it is for.

    The Directory unwraps it and handles ``message`` as if sent alone, or, when it serves
    another store, answers ``ErrorReply`` kind ``wrong_store`` and does nothing else.
    """

    system_id: str
    message: Any
    """The request itself (``SubmitTurn``, ``QueryOwnerState``, ``RegisterClient``, ...)."""


@attrs.frozen
class DirectoryReady:
    """The answer to ``ConfigureDirectory``: the Directory serves its store."""

    request_id: str
    pid: int
