"""sessionward: an actor runtime for chat-agent sessions. One owner actor per session file.

Layering, from the bottom up (each layer imports only those below it):

1. Pure logic, no actor engine: ``keys``, ``store``, ``transcript_format``, ``entries``,
   ``transcript``, ``inbox``, ``validation``, ``views``, ``lanes.routing``,
   ``lanes.queue_policy``, ``lanes.schedule``, ``recovery.stall``,
   ``recovery.escalation``, ``recovery.replay``, ``recovery.failover``, ``providers``.
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
    InvalidMessageError,
    InvalidSessionKeyError,
    OpenclawStateNotSupportedError,
    PathEscapesStoreError,
    ProviderError,
    RuntimeClosedError,
    SessionBusyError,
    SessionOwnedElsewhereError,
    SessionwardError,
    TranscriptMissingError,
    TurnFailedError,
    UnavailableError,
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
    "InvalidMessageError",
    "InvalidSessionKeyError",
    "OpenclawStateNotSupportedError",
    "OutcomeReason",
    "PathEscapesStoreError",
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
    "SessionwardError",
    "TranscriptMissingError",
    "TurnFailedError",
    "TurnHandle",
    "TurnOutcome",
    "TurnStatus",
    "UnavailableError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
