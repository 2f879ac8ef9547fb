"""sessionward: an actor runtime for chat-agent sessions. One owner actor per session file.

Layering, from the bottom up (each layer imports only those below it):

1. Pure logic, no actor engine: ``keys``, ``store``, ``transcript_format``, ``entries``,
   ``transcript``, ``inbox``, ``validation``, ``views``, ``lanes.routing``,
   ``lanes.queue_policy``, ``lanes.schedule``, ``recovery.stall``,
   ``recovery.escalation``, ``recovery.replay``, ``recovery.failover``, ``providers``,
   ``ownership`` (is a store's recorded host alive; which processes are its leftovers).
   Beside them, the process helpers (no actor engine either): ``processes`` (facts by
   psutil), ``lifetime`` (a system follows its host), ``claim`` (a store's record),
   ``preflight`` (store path and port checks).
2. Records: ``outcomes``, ``config``, ``actors.messages``, and ``converter`` (their JSON
   form, the only module that imports cattrs).
3. Actors (the only modules, with ``system``, that import Thespian): ``actors.directory``,
   ``actors.owner``, ``actors.worker``, ``recovery.actor``, ``lanes.timers``.
4. ``Runtime`` (``runtime``, ``client``): the embedding API.
5. The CLI (``cli``): calls ``Runtime`` and ``AdminClient`` only, and sets up logging.
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
