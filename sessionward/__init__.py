"""sessionward: an actor runtime for chat-agent sessions. One owner actor per session file.

Layering, from the bottom up (each layer imports only those below it; the import-linter
contracts in ``pyproject.toml`` check them in CI):

1. Pure logic, no actor engine, no cattrs: ``errors``, ``error_kinds`` (what each
   ``ErrorReply.kind`` means, in one table), ``durations`` (the one duration syntax),
   ``clock`` (the one clock actors read), ``js_json`` (JSON as JavaScript writes it),
   ``files`` (atomic writes, backups, quarantine), ``keys``, ``store``, ``openclaw_store``,
   ``transcript_format`` (a package: records, format, migration, context), ``entries``,
   ``transcript``, ``inbox``, ``validation``, ``views``, ``logs``, ``lanes.routing``,
   ``lanes.queue_policy``, ``lanes.schedule``, ``lanes.cron_state``, ``recovery.stall``,
   ``recovery.escalation``, ``recovery.liveness`` (dead, wedged or slow; backoff and
   parking), ``recovery.replay``, ``recovery.failover``, ``recovery.history``,
   ``recovery.lease`` (silent members and owner leases), ``actors.placement``, the
   Directory's state (``actors.owner_slots``, ``actors.session_index``,
   ``actors.replacements``, ``actors.membership``, ``actors.gathers``,
   ``actors.directory_answers``), ``providers``, ``ownership`` (is a store's recorded host
   alive; which processes are its leftovers). Beside them, the process helpers (no actor
   engine either): ``processes`` (facts by psutil; ``running`` is the one "is this pid
   running" check), ``lifetime`` (a system follows its host), ``claim`` (a store's record),
   ``preflight`` (store path and port checks).
2. Records: ``outcomes``, ``config`` (the runtime's and the daemon's whole file),
   ``lanes.config`` (agents and their lanes), ``lanes.timer_messages``, ``actors.messages``
   (re-exporting ``actors.turn_protocol``, ``actors.admin_protocol``,
   ``actors.owner_protocol``); then ``converter`` (the one cattrs converter: their JSON form,
   and config files to records; the only module that imports cattrs) and ``config_file``
   (reads TOML through it). Beside them, pure too (given ``now``, no actor engine) but built
   on those records: the owner's decisions, ``actors.ledger`` (every ``TurnOutcome`` is
   built there), ``actors.intake``, ``actors.streaming``, ``actors.context_feed``,
   ``actors.activation``, ``actors.owner_state``.
3. Actors (the only modules, with ``system``, that import Thespian): ``actors.base`` (the
   one handler guard every actor runs under), ``actors.directory`` (with its handler modules
   ``actors.directory_lifecycle`` and ``actors.directory_admin``), ``actors.owner``,
   ``actors.worker``, ``actors.member_watch``, ``actors.lease_keeper``, ``recovery.actor``,
   ``lanes.timer_base``, ``lanes.timers``. ``system`` starts and joins actor systems and
   installs the Thespian workarounds.
4. ``Runtime`` (``runtime``, ``client``, ``session_client``) and ``AdminClient``
   (``admin``): the embedding API. Both hold a ``SessionClient`` for the calls they share.
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
