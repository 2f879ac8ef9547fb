"""Every message the actors exchange. Frozen, slotted attrs classes; no JSON methods.

Naming: requests are imperative (``SubmitTurn``), replies and events are nouns or past
tense (``TurnAccepted``, ``StreamBatch``). Every request from outside carries a
``request_id`` that its reply repeats, because replies from many owners reach one client
mailbox and are matched there.

Messages never carry exceptions (Thespian pickles them, and exceptions with custom
``__init__`` arguments fail to unpickle): errors travel as ``ErrorReply`` or as a
``TurnOutcome`` with a reason. No field uses ``init=False``: slotted classes with an unset
field fail to pickle.
"""

from __future__ import annotations

from typing import Any

import attrs

from sessionward.config import RuntimeConfig
from sessionward.outcomes import TurnOutcome

ActorAddress = Any  # thespian.actors.ActorAddress; kept untyped so this module imports no engine

# -- requests from clients (Runtime, AdminClient, lanes) --------------------------------


@attrs.frozen
class SubmitTurn:
    """Run a turn on a session. Answered by ``TurnAccepted`` or ``TurnOutcome`` (refused),
    then exactly one final ``TurnOutcome`` (after any ``merged``)."""

    request_id: str
    session_key: str
    lane: str
    text: str
    mode: str | None = None
    """``followup``, ``collect``, ``steer``, ``interrupt``; None: the session's default."""
    idempotency_key: str | None = None
    """A client's retry with the same key gets the first submit's turn, not a new one."""
    reply_to: ActorAddress | None = None
    """Where acceptance, deltas and outcome go; the Directory fills in the sender."""
    want_deltas: bool = False
    """Also send ``StreamDelta`` messages while the turn streams."""


@attrs.frozen
class AbortTurn:
    """Abort a session's running turn (only ``turn_id`` if given). Answered by ``CommandResult``."""

    request_id: str
    session_key: str
    turn_id: str | None = None
    reason: str = "aborted"
    """An ``OutcomeReason`` value: ``aborted`` (admin), ``stalled`` (recovery)."""
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
class QueryOwnerState:
    """Ask one session's owner for an ``OwnerState``. Answered by it or ``ErrorReply``.

    ``activate=False`` (admin and recovery) does not start an owner for a passive session.
    """

    request_id: str
    session_key: str
    reply_to: ActorAddress | None = None
    activate: bool = False
    include_history: bool = False


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
class ReplaceOwner:
    """Recovery: the owner of ``session_key`` is wedged; end its process and start anew."""

    request_id: str
    session_key: str
    reason: str = "wedged"
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


@attrs.frozen
class ClientRegistered:
    request_id: str
    address: ActorAddress


@attrs.frozen
class TurnAccepted:
    """The turn is recorded in the session's inbox: it will get an outcome."""

    request_id: str
    session_key: str
    turn_id: str
    decision: str
    """``queued``, ``running``, ``collecting``, ``steered``, ``interrupting``, ``duplicate``."""
    position: int = 0
    mode_applied: str = "followup"


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
    request_id: str
    ok: bool
    detail: str = ""
    turn_id: str | None = None


@attrs.frozen
class ErrorReply:
    """A request could not be served. ``kind`` names the error class on the client side."""

    request_id: str
    kind: str
    """``bad_input``, ``invalid_session_key``, ``path_escapes_store``, ``not_found``,
    ``owned_elsewhere``, ``unknown_message``, ``internal_error``, ``unavailable``, ``parked``,
    ``wrong_store``."""
    message: str


@attrs.frozen
class TurnRecord:
    """A finished turn, as an owner remembers its recent history."""

    turn_id: str
    lane: str
    status: str
    reason: str | None
    finished_time: float


@attrs.frozen
class QueuedTurn:
    """A turn waiting in an owner's queue, as a snapshot shows it (the order it would run)."""

    turn_id: str
    """What ``cancel`` (``CancelTurn``) names."""
    lane: str
    mode: str
    """The queue mode it was admitted with (``followup``, ``collect``, ...)."""
    accepted_time: float
    """When the owner accepted it (epoch seconds)."""


@attrs.frozen
class OwnerState:
    """A snapshot of one owner (never its live queue)."""

    session_key: str
    session_id: str
    file: str
    state: str
    """``idle``, ``running``, ``fenced``, ``stopping``."""
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
    request_id: str
    sessions: tuple[OwnerState, ...]
    total: int
    unanswered: tuple[str, ...] = ()
    """Session keys whose owner did not answer in time (listed, not hidden)."""


@attrs.frozen
class SystemStatus:
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


@attrs.frozen
class ParkedSession:
    """A session the Directory stopped restarting (see ``sessionward.recovery.liveness``)."""

    session_key: str
    file: str
    reason: str
    """Why, in one line (e.g. ``its owner was replaced 3 times in 600 s``)."""
    parked_time: float
    """When it was parked (epoch seconds)."""


# -- Directory <-> SessionOwner ---------------------------------------------------------


@attrs.frozen
class ActivateOwner:
    session_key: str
    session_id: str
    path: str
    config: RuntimeConfig
    provider: Any
    """A picklable provider or a ``ProviderSpec``."""
    keys: tuple[str, ...] = ()
    member: str = "local"
    """The convention member this owner was placed on."""
    fail_unfinished_as: str | None = None
    """When set (an ``OutcomeReason`` value), every turn a previous owner acknowledged and
    never finished is failed with this reason instead of replayed (after ``unpark``)."""
    create: bool = True
    """Whether the owner may create the transcript when it is absent. False for a file the
    index already names: a missing one fails activation with ``transcript_missing``."""
    sidecar_dir: str | None = None
    """Where the inbox and other side files go (the store's ``sidecar_dir``); None: beside
    the transcript."""


@attrs.frozen
class OwnerActivated:
    path: str
    pid: int
    report: Any
    replayed: tuple[str, ...] = ()


@attrs.frozen
class OwnerActivationFailed:
    path: str
    kind: str
    message: str


@attrs.frozen
class OwnerIdle:
    """The owner has been idle for ``idle_timeout``; the Directory may passivate it."""

    path: str


@attrs.frozen
class PassivateOwner:
    path: str


@attrs.frozen
class OwnerPassivated:
    """The owner released the file and is exiting; messages held for it can go to a new one."""

    path: str


@attrs.frozen
class PassivationRefused:
    path: str


@attrs.frozen
class OwnerFenced:
    """The owner saw an outside write, failed its turns with ``fenced`` and released the file."""

    path: str
    detail: str


@attrs.frozen
class KeysChanged:
    path: str
    keys: tuple[str, ...]


# -- SessionOwner <-> TurnWorker --------------------------------------------------------


@attrs.frozen
class StartWorker:
    provider: Any
    batch_window: float
    batch_max: int
    inherited_fds: tuple[tuple[int, str], ...] = ()
    """(descriptor, path) of the owner's transcript and inbox, which a forked worker inherits."""
    owner_pid: int = 0


@attrs.frozen
class RunTurn:
    turn_id: str
    request: Any
    """A ``ProviderRequest`` (its ``context`` left empty: the worker keeps the context)."""
    context_from: int = 0
    """How many context messages the worker already holds from earlier turns ..."""
    context_delta: tuple[Any, ...] = ()
    """... and the messages after those. Sending only the new ones keeps a turn's cost from
    growing with the session: a 1,000-turn session's context pickled whole cost ~15 ms."""


@attrs.frozen
class StopStream:
    turn_id: str


@attrs.frozen
class PingStream:
    turn_id: str


@attrs.frozen
class SteerStream:
    turn_id: str
    text: str


@attrs.frozen
class StreamBatch:
    """Events of one turn's stream, in order. ``done`` is set on the last batch."""

    turn_id: str
    events: tuple[Any, ...]
    done: bool
    stream_seconds: float = 0.0


@attrs.frozen
class PumpStream:
    """The worker's message to itself: forward what the stream has produced so far."""

    turn_id: str


@attrs.frozen
class WorkerReady:
    pid: int


@attrs.frozen
class OwnerWorkerStarted:
    """The owner's worker process id, so the Directory can end it if the owner dies."""

    path: str
    pid: int


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
    request_id: str
    pid: int
