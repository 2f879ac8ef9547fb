"""sessionward: an actor runtime for chat-agent sessions. One owner actor per session file.

The folders say what each part is for:

- ``sessionward`` itself: the public face (``Runtime``, its records and errors) and what
  every part shares: ``runtime``, ``client``, ``session_client`` and ``routes`` (the embedding API),
  ``errors``, ``error_kinds``, ``outcomes``, ``config``, ``config_file``, ``converter``,
  ``durations``, ``clock``, ``logs``.
- ``storage/``: the files. ``store`` (the session index, with ``index_journal`` and
  ``index_files``), ``openclaw_store``, ``keys``, ``transcript`` (the owned file: lock,
  append, fence), ``transcript_format/`` (records, format, migration, context), ``entries``,
  ``inbox``, ``files`` (atomic writes, backups, quarantine), ``js_json``, ``validation``,
  ``views``.
- ``actors/``: the actors and the pure decisions they make. The owner (``owner``,
  ``worker``; ``ledger``, ``intake``, ``streaming``, ``context_feed``, ``activation``,
  ``owner_state``), the Directory (``directory``, ``directory_lifecycle``,
  ``directory_admin``, ``directory_timers``, ``directory_state``; ``owner_slots``, ``spare_owners``, ``session_index``,
  ``replacements``, ``membership``, ``placement``, ``gathers``, ``directory_answers``), the
  convention's watchers (``member_watch``, ``lease_keeper``), the protocol (``messages``,
  re-exporting ``turn_protocol``, ``admin_protocol``, ``owner_protocol``), and ``base`` (the
  one handler guard).
- ``lanes/``: where turns come from. ``routing``, ``queue_policy``, ``schedule``,
  ``cron_state``, ``config``, ``timer_messages``, the timer lane actors ``timer_base`` and
  ``timers``.
- ``recovery/``: the recovery actor (``actor``) and its rules: ``stall``, ``escalation``,
  ``liveness``, ``replay``, ``lease``, ``history``.
- ``providers/``: model providers (``base``, ``scripted``, ``openai_compat`` with its wire
  format ``openai_wire``) with their failover beside them (``failover``, and its table
  ``failover_rules``).
- ``hosting/``: what the actors run in. ``system`` (start and join actor systems, the
  Thespian workarounds), ``status`` (Thespian's own view of a system), ``senders`` (the client's bounded sends),
  ``transport``
  (authenticated frames, ``frames``, ``secret``, ``log_budget``), ``lifetime`` (a system
  follows its host), ``processes``, ``claim``, ``ownership``, ``preflight``.
- ``operations/``: running it. ``admin`` (``AdminClient``), ``daemon``, ``daemon_control``,
  ``doctor`` and ``diagnosis``.
- ``cli/``: the command, parse and render only (``parser``, ``daemon_commands``,
  ``session_commands``, ``render``, ``exit_codes``).
- ``examples/``: the multi-lane demo bot (installed as ``sessionward.examples``).

Layering, from the bottom up (each layer imports only those below it; the import-linter
contracts in ``pyproject.toml`` check them in CI):

1. Pure logic, no actor engine, no cattrs: everything in ``storage/``; ``errors``,
   ``error_kinds``, ``durations``, ``clock``, ``logs``; ``lanes.routing``,
   ``lanes.queue_policy``, ``lanes.schedule``, ``lanes.cron_state``; every rule module of
   ``recovery/``; the Directory's state modules and ``actors.placement``; ``providers``; in
   ``hosting/``: ``frames``, ``secret``, ``log_budget``, ``ownership``, and the process
   helpers ``processes`` (the one "is this pid running" check), ``lifetime``, ``claim``,
   ``preflight``; ``operations.diagnosis``.
2. Records: ``outcomes``, ``config``, ``lanes.config``, ``lanes.timer_messages``,
   ``actors.messages`` and its protocol modules; then ``converter`` (the one cattrs
   converter: their JSON form, and config files to records; the only module that imports
   cattrs) and ``config_file`` (reads TOML through it). Beside them, pure too (given
   ``now``, no actor engine) but built on those records: the owner's decisions
   (``actors.ledger``, where every ``TurnOutcome`` is built, ``actors.intake``,
   ``actors.streaming``, ``actors.context_feed``, ``actors.activation``,
   ``actors.owner_state``).
3. Actors (the only modules, with ``hosting.system``, ``hosting.transport``,
   ``hosting.status`` and ``hosting.senders``, that import Thespian): the actor modules of ``actors/``,
   ``recovery.actor``, ``lanes.timer_base``, ``lanes.timers``.
4. The embedding API: ``Runtime`` (``runtime``, ``client``, ``session_client``) and
   ``AdminClient`` (``operations.admin``). Both hold a ``SessionClient`` for the calls they
   share.
5. ``cli/``, ``operations.daemon``, ``operations.daemon_control``, ``operations.doctor``:
   call ``Runtime`` and ``AdminClient``; ``cli`` sets up logging for a terminal.
"""

import logging

from sessionward.actors.messages import CommandResult, OwnerState, SessionsPage, SystemStatus, TurnRecord
from sessionward.client import TurnHandle
from sessionward.config import ClusterConfig, DaemonConfig, RecoveryConfig, ReplayPolicy, RuntimeConfig, StreamIn
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
from sessionward.storage.transcript import Durability

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
    "StreamIn",
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
