"""The owner's own protocol: the Directory and a SessionOwner (activation, idleness,
passivation, fencing), a SessionOwner and its TurnWorker (streams), and the typed payloads
of their timers. Frozen, slotted attrs records; re-exported by
``sessionward.actors.messages``, which says the rules every record here follows.
"""

from __future__ import annotations

from typing import Any

import attrs

from sessionward.actors.turn_protocol import ErrorKind
from sessionward.config import RuntimeConfig
from sessionward.outcomes import OutcomeReason

# -- Directory <-> SessionOwner ---------------------------------------------------------


@attrs.frozen
class ActivateOwner:
    """The Directory starts an owner on a file: answered by ``OwnerActivated`` or ``OwnerActivationFailed``."""

    session_key: str
    session_id: str
    path: str
    config: RuntimeConfig
    provider: Any
    """A picklable provider or a ``ProviderSpec``."""
    keys: tuple[str, ...] = ()
    member: str = "local"
    """The convention member this owner was placed on."""
    fail_unfinished_as: OutcomeReason | None = attrs.field(
        default=None, converter=attrs.converters.optional(OutcomeReason))
    """When set (an ``OutcomeReason`` value), every turn a previous owner acknowledged and
    never finished is failed with this reason instead of replayed (after ``unpark``)."""
    create: bool = True
    """Whether the owner may create the transcript when it is absent. False for a file the
    index already names: a missing one fails activation with ``transcript_missing``."""
    sidecar_dir: str | None = None
    """Where the inbox and other side files go (the store's ``sidecar_dir``); None: beside
    the transcript."""
    index_pending: bool = False
    """A key of this file is new and its ``sessions.json`` entry is not written yet: the
    owner takes turns at once but holds their outcomes until ``IndexFlushed``."""
    carried: tuple[Any, ...] = ()
    """Messages the Directory held for this owner (submits, queries, commands), in order:
    taken as if sent right after this one, once the file is open; not taken if it cannot be."""
    after_loss: bool = False
    """The file's previous owner was lost (it died, its member did, or it was ended as
    wedged): the outcomes of the turns it ended lately are sent again, since they may have
    died with it (``sessionward.recovery.replay.ended_unheard``)."""


@attrs.frozen
class IndexFlushed:
    """The Directory has written ``sessions.json`` since this owner activated: outcomes held
    for a new key's entry (``ActivateOwner.index_pending``) may go."""

    path: str


@attrs.frozen
class OwnerActivated:
    """The owner holds its file's lock and serves it; ``replayed`` names the turns it re-queued."""

    path: str
    pid: int
    report: Any
    replayed: tuple[str, ...] = ()


@attrs.frozen
class OwnerActivationFailed:
    """The owner could not take its file; ``kind`` is sent on to waiting submitters as an ``ErrorReply``."""

    path: str
    kind: ErrorKind = attrs.field(converter=ErrorKind)
    message: str


@attrs.frozen
class OwnerIdle:
    """The owner has been idle for ``idle_timeout``; the Directory may passivate it."""

    path: str


@attrs.frozen
class PassivateOwner:
    """The Directory asks an idle owner to release its file and exit."""

    path: str


@attrs.frozen
class OwnerPassivated:
    """The owner released the file and is exiting; messages held for it can go to a new one."""

    path: str


@attrs.frozen
class PassivationRefused:
    """The owner got work since it said it was idle; it stays."""

    path: str


@attrs.frozen
class OwnerFenced:
    """The owner saw an outside write, failed its turns with ``fenced`` and released the file."""

    path: str
    detail: str


@attrs.frozen
class KeysChanged:
    """The session keys routed to the owner's file changed (a bind)."""

    path: str
    keys: tuple[str, ...]


# -- SessionOwner <-> TurnWorker --------------------------------------------------------


@attrs.frozen
class WorkerLink:
    """Where a forked worker finds its link to its owner (``actors/worker_link.py``): the
    descriptor numbers of both ends of the socket pair and their inodes (a number is taken
    to name the socket only if its inode still matches)."""

    worker_fd: int
    worker_inode: int
    owner_fd: int
    owner_inode: int


@attrs.frozen
class StartWorker:
    """The owner configures its new TurnWorker child; answered by ``WorkerReady``."""

    provider: Any
    batch_window: float
    batch_max: int
    inherited_fds: tuple[tuple[int, str], ...] = ()
    """(descriptor, path) of the owner's transcript and inbox, which a forked worker inherits."""
    owner_pid: int = 0
    link: WorkerLink | None = None
    """The worker's link to its owner; without one (no fork, or a transport that watches no
    descriptors) the data path uses Thespian messages."""


@attrs.frozen
class RunTurn:
    """Stream one turn from the provider; the worker answers with ``StreamBatch`` messages."""

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
    """Cancel the stream of ``turn_id`` (a stale id is ignored)."""

    turn_id: str


@attrs.frozen
class PingStream:
    """Ask the stream of ``turn_id`` for a sign of life (recovery's nudge)."""

    turn_id: str


@attrs.frozen
class SteerStream:
    """Hand ``text`` to the stream of ``turn_id`` at its next model or tool boundary."""

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
class WorkerReady:
    """The worker is configured; ``pid`` is its process, which the Directory may have to end."""

    pid: int


# -- Directory <-> OwnerFactory (``actors/owner_factory.py``) ------------------------------


@attrs.frozen
class ForkOwners:
    """The Directory to its owner factory: fork ``count`` SessionOwner processes, answered
    by one ``OwnersForked`` with the same ``request``."""

    count: int
    request: int = 0
    directory_pid: int = 0
    """The factory freezes its heap only in a process of its own (not on simpleSystemBase,
    where every actor runs in the Directory's process, the application's)."""
    immortal_heap: bool = False
    """``RuntimeConfig.immortal_factory_heap``: the factory makes its heap immortal before
    its first fork (``hosting/immortal_heap.py``)."""


@attrs.frozen
class OwnersForked:
    """The factory's answer to ``ForkOwners``: the new owners' addresses, and how many
    forks failed (``createActor`` raised). Thespian sends it once every new owner has
    connected (an address is usable outside its creator only then)."""

    request: int
    addresses: tuple[Any, ...]
    failed: int = 0
    pid: int = 0
    """The factory's process (reported by ``status``)."""


@attrs.frozen
class OwnerExited:
    """The factory to the Directory: one of its owners exited (Thespian's
    ``ChildActorExited`` goes to an actor's parent, and the factory is the owners' parent)."""

    address: Any


@attrs.frozen
class StandBy:
    """The Directory to a spare owner (``actors/spare_owners.py``): start your worker now and
    set it up (``StartWorker``) with this provider and batching, so that activating you
    later sends the worker nothing. The worker is forked before any session's file is open,
    so it holds none of its descriptors. Without a provider (the Directory not configured
    yet) the worker is set up at activation."""

    provider: Any = None
    batch_window: float = 0.02
    batch_max: int = 256


@attrs.frozen
class OwnerWorkerStarted:
    """The owner's worker process id, so the Directory can end it if the owner dies; 0 once
    the owner has no worker (retired while idle, or gone), so a reused pid is never killed."""

    path: str
    pid: int


# -- timer payloads (an actor's ``wakeupAfter`` to itself) -------------------------------
# Typed records rather than strings: a payload is matched by type, as every other message
# is, and a misspelt one is a NameError, not a timer that silently never fires.


@attrs.frozen
class IdleCheck:
    """The owner's timer: ``idle_timeout`` after it last went idle, tell the Directory if it still is."""


@attrs.frozen
class WorkerIdleCheck:
    """The owner's timer: ``worker_idle_timeout`` after it last went idle, retire its worker if it still is."""


@attrs.frozen
class StartOwnWorker:
    """The owner's timer at the end of activation (1 ms): start its worker, and the first
    turn, once ``OwnerActivated`` and a carried turn's ``TurnAccepted`` have gone out (a
    handler's sends wait for it to return, fork included)."""

    waited: int = 0
    """How many times it was set again because a send had not gone out."""


@attrs.frozen
class AnswersDue:
    """The owner's timer: look again whether answers held for their submitters can go
    (``actors/held_answers.py``)."""


@attrs.frozen
class SyncDue:
    """The owner's timer: fsync the transcript and settle the turns that ended before it,
    if the next turn's own end has not done it first (``owner_state.shares_sync``,
    ``RuntimeConfig.shared_fsync_window``)."""


@attrs.frozen
class CollectDue:
    """The owner's timer: the collect buffer's quiet window has passed; start its turn if it can."""


@attrs.frozen
class FlushLink:
    """An owner's timer: write what its worker's link kept (``actors/worker_link.py``)."""


@attrs.frozen
class PumpStream:
    """The worker's message to itself: forward what the stream has produced so far."""

    turn_id: str
