"""sessionward: an actor runtime for chat-agent sessions. One owner actor per session file.

Layering, from the bottom up (each layer imports only those below it; the import-linter
contracts in ``pyproject.toml`` check the first three in CI):

1. Pure logic, no actor engine, no cattrs: ``errors``, ``clock`` (the one clock actors read),
   ``js_json`` (JSON as JavaScript writes it), ``files`` (atomic writes, backups,
   quarantine), ``keys``, ``store``, ``openclaw_store``, ``transcript_format``, ``entries``,
   ``transcript``, ``inbox``, ``validation``, ``views``, ``logs``, ``lanes.routing``,
   ``lanes.queue_policy``, ``lanes.schedule``, ``recovery.stall``, ``recovery.escalation``,
   ``recovery.liveness`` (dead, wedged or slow; backoff and parking), ``recovery.replay``,
   ``recovery.failover``, ``recovery.history``, ``actors.placement``, ``providers``,
   ``ownership`` (is a store's recorded host alive; which processes are its leftovers).
   Beside them, the process helpers (no actor engine either): ``processes`` (facts by
   psutil), ``lifetime`` (a system follows its host), ``claim`` (a store's record),
   ``preflight`` (store path and port checks).
2. Records: ``outcomes``, ``config``, ``lanes.config`` (lane configuration; it still has its
   own cattrs loader, the one named exception), ``actors.messages``, and ``converter``
   (their JSON form).
3. Actors (the only modules, with ``system``, that import Thespian): ``actors.base`` (the
   one handler guard every actor runs under), ``actors.directory``, ``actors.owner``,
   ``actors.worker``, ``actors.member_watch``, ``recovery.actor``, ``lanes.timers``.
   ``system`` starts and joins actor systems and installs the Thespian workarounds.
4. ``Runtime`` (``runtime``, ``client``) and ``AdminClient`` (``admin``): the embedding API.
5. The CLI (``cli``, ``daemon``): calls ``Runtime`` and ``AdminClient`` only, and sets up
   logging.
"""

import logging

from sessionward.actors.messages import CommandResult, OwnerState, SessionsPage, SystemStatus, TurnRecord
from sessionward.client import TurnHandle
from sessionward.config import ClusterConfig, DaemonConfig, RecoveryConfig, ReplayPolicy, RuntimeConfig
from sessionward.errors import (
    BadInputError,
    CoordinationError,
    CorruptTranscriptError,
    FencedError,
    InvalidConfigError,
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
    UnknownConfigKeyError,
    WrongStoreError,
)
from sessionward.lanes.config import AgentConfig
from sessionward.lanes.queue_policy import DropPolicy, QueueMode, QueuePolicy
from sessionward.lanes.timer_messages import CronJobStats, CronLaneStats, HeartbeatLaneStats
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.providers import ProviderSpec, ScriptedProvider
from sessionward.recovery.history import RecoveryAction, RecoveryHistoryReply
from sessionward.runtime import Runtime
from sessionward.transcript import Durability

__all__ = [
    "AgentConfig",
    "BadInputError",
    "ClusterConfig",
    "CommandResult",
    "CoordinationError",
    "CorruptTranscriptError",
    "CronJobStats",
    "CronLaneStats",
    "DaemonConfig",
    "DropPolicy",
    "Durability",
    "FencedError",
    "HeartbeatLaneStats",
    "InvalidConfigError",
    "InvalidLaneError",
    "InvalidMessageError",
    "InvalidPortError",
    "InvalidSessionKeyError",
    "OpenclawStateNotSupportedError",
    "OutcomeReason",
    "OwnerState",
    "PathEscapesStoreError",
    "PortInUseError",
    "ProviderError",
    "ProviderSpec",
    "QueueMode",
    "QueuePolicy",
    "RecoveryAction",
    "RecoveryConfig",
    "RecoveryHistoryReply",
    "ReplayPolicy",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeConfig",
    "ScriptedProvider",
    "SessionBusyError",
    "SessionOwnedElsewhereError",
    "SessionParkedError",
    "SessionsPage",
    "SessionwardError",
    "SessionwardTimeoutError",
    "StoreInUseError",
    "StoreUnusableError",
    "SystemStatus",
    "TranscriptMissingError",
    "TurnFailedError",
    "TurnHandle",
    "TurnOutcome",
    "TurnRecord",
    "TurnStatus",
    "UnavailableError",
    "UnknownConfigKeyError",
    "WrongStoreError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
