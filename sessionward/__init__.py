"""sessionward: an actor runtime for chat-agent sessions. One owner actor per session file.

Layering, from the bottom up (each layer imports only those below it; the import-linter
contracts in ``pyproject.toml`` check the first three in CI):

1. Pure logic, no actor engine, no cattrs: ``errors``, ``clock`` (the one clock actors read),
   ``js_json`` (JSON as JavaScript writes it), ``files`` (atomic writes, backups,
   quarantine), ``keys``, ``store``, ``openclaw_store``, ``transcript_format``, ``entries``,
   ``transcript``, ``inbox``, ``validation``, ``views``, ``logs``, ``lanes.routing``,
   ``lanes.queue_policy``, ``lanes.schedule``, ``recovery.stall``, ``recovery.escalation``,
   ``recovery.liveness`` (dead, wedged or slow; backoff and parking), ``recovery.replay``,
   ``recovery.failover``, ``recovery.history``, ``actors.placement``, the Directory's
   state (``actors.owner_slots``, ``actors.session_index``, ``actors.replacements``,
   ``actors.membership``, ``actors.gathers``, ``actors.directory_answers``), ``providers``,
   ``ownership`` (is a store's recorded host alive; which processes are its leftovers).
   Beside them, the process helpers (no actor engine either): ``processes`` (facts by
   psutil; ``running`` is the one "is this pid running" check), ``lifetime`` (a system
   follows its host), ``claim`` (a store's record), ``preflight`` (store path and port
   checks).
2. Records: ``outcomes``, ``config``, ``lanes.config`` (lane configuration; it still has its
   own cattrs loader, the one named exception), ``actors.messages`` (re-exporting
   ``actors.turn_protocol``, ``actors.admin_protocol``, ``actors.owner_protocol``), ``converter``
   (their JSON form). Beside them, pure too (given ``now``, no actor engine) but built on
   those records: the owner's decisions, ``actors.ledger`` (every ``TurnOutcome`` is built
   there), ``actors.intake``, ``actors.streaming``, ``actors.context_feed``,
   ``actors.activation``, ``actors.owner_state``.
3. Actors (the only modules, with ``system``, that import Thespian): ``actors.base`` (the
   one handler guard every actor runs under), ``actors.directory`` (with its handler modules
   ``actors.directory_lifecycle`` and ``actors.directory_admin``), ``actors.owner``,
   ``actors.worker``, ``actors.member_watch``, ``recovery.actor``, ``lanes.timers``.
   ``system`` starts and joins actor systems and installs the Thespian workarounds.
4. ``Runtime`` (``runtime``, ``client``) and ``AdminClient`` (``admin``): the embedding API.
5. The CLI (``cli``, ``daemon``): calls ``Runtime`` and ``AdminClient`` only, and sets up
   logging.
"""

import logging

from sessionward.client import TurnHandle
from sessionward.config import RecoveryConfig, RuntimeConfig
from sessionward.errors import (
    BadInputError,
    CoordinationError,
    CorruptTranscriptError,
    FencedError,
    InvalidLaneError,
    InvalidMessageError,
    InvalidPortError,
    InvalidSessionKeyError,
    OpenclawStateNotSupportedError,
    PathEscapesStoreError,
    PortInUseError,
    ProviderError,
    RuntimeClosedError,
    SessionBusyError,
    SessionOwnedElsewhereError,
    SessionParkedError,
    SessionwardError,
    SessionwardTimeoutError,
    StoreInUseError,
    StoreUnusableError,
    TranscriptMissingError,
    TurnFailedError,
    UnavailableError,
    WrongStoreError,
)
from sessionward.lanes.queue_policy import DropPolicy, QueueMode, QueuePolicy
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.providers import ProviderSpec, ScriptedProvider
from sessionward.runtime import Runtime
from sessionward.transcript import Durability

__all__ = [
    "BadInputError",
    "CoordinationError",
    "CorruptTranscriptError",
    "DropPolicy",
    "Durability",
    "FencedError",
    "InvalidLaneError",
    "InvalidMessageError",
    "InvalidPortError",
    "InvalidSessionKeyError",
    "OpenclawStateNotSupportedError",
    "OutcomeReason",
    "PathEscapesStoreError",
    "PortInUseError",
    "ProviderError",
    "ProviderSpec",
    "QueueMode",
    "QueuePolicy",
    "RecoveryConfig",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeConfig",
    "ScriptedProvider",
    "SessionBusyError",
    "SessionOwnedElsewhereError",
    "SessionParkedError",
    "SessionwardError",
    "SessionwardTimeoutError",
    "StoreInUseError",
    "StoreUnusableError",
    "TranscriptMissingError",
    "TurnFailedError",
    "TurnHandle",
    "TurnOutcome",
    "TurnStatus",
    "UnavailableError",
    "WrongStoreError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
