"""Every message the actors exchange. Frozen, slotted attrs classes; no JSON methods.

The records live in three modules, one per idea, and are all re-exported here, so
``from sessionward.actors.messages import X`` works for every one of them:

- ``turn_protocol``: a client and a session's turns (submit, abort, cancel, nudge and
  their answers, ``ErrorReply``);
- ``admin_protocol``: queries, admin commands, snapshots and the Directory's start-up;
- ``owner_protocol``: Directory and owner, owner and worker, and the timer payloads.

Naming: requests are imperative (``SubmitTurn``), replies and events are nouns or past
tense (``TurnAccepted``, ``StreamBatch``). Every request from outside carries a
``request_id`` that its reply repeats, because replies from many owners reach one client
mailbox and are matched there.

Messages never carry exceptions (Thespian pickles them, and exceptions with custom
``__init__`` arguments fail to unpickle): errors travel as ``ErrorReply`` or as a
``TurnOutcome`` with a reason. No field uses ``init=False``: slotted classes with an unset
field fail to pickle. A field naming one of a closed set is a ``StrEnum`` whose values are
the strings the protocol always used, and converts a plain string it is given.
"""

from __future__ import annotations

from sessionward.actors.admin_protocol import (
    BindSession,
    ClientRegistered,
    ConfigureDirectory,
    DirectoryReady,
    ForStore,
    OwnerPhase,
    OwnerState,
    ParkedSession,
    QueryOwnerState,
    QuerySessions,
    QuerySystem,
    QueuedTurn,
    RegisterClient,
    ReplaceOwner,
    SessionsPage,
    SparesStopped,
    StartNewTranscript,
    StopSpares,
    SystemStatus,
    TurnRecord,
    UnparkSession,
)
from sessionward.actors.owner_protocol import (
    ActivateOwner,
    AnswersDue,
    CollectDue,
    FlushLink,
    ForkOwners,
    IdleCheck,
    IndexFlushed,
    KeysChanged,
    OwnerActivated,
    OwnerActivationFailed,
    OwnerExited,
    OwnerFenced,
    OwnerIdle,
    OwnerPassivated,
    OwnersForked,
    OwnerWorkerStarted,
    PassivateOwner,
    PassivationRefused,
    PingStream,
    PumpStream,
    RunTurn,
    StandBy,
    StartOwnWorker,
    StartWorker,
    SteerStream,
    StopStream,
    StreamBatch,
    SyncDue,
    WorkerIdleCheck,
    WorkerLink,
    WorkerReady,
)
from sessionward.actors.turn_protocol import (
    AbortTurn,
    AcceptDecision,
    Answers,
    CancelTurn,
    CommandResult,
    ErrorKind,
    ErrorReply,
    NudgeTurn,
    OutcomeMessage,
    OwnerMoved,
    Route,
    StreamDelta,
    SubmitTurn,
    SubmitTurns,
    TurnAccepted,
)
from sessionward.outcomes import TurnOutcome

__all__ = [
    "AbortTurn",
    "AcceptDecision",
    "ActivateOwner",
    "Answers",
    "AnswersDue",
    "BindSession",
    "CancelTurn",
    "ClientRegistered",
    "CollectDue",
    "CommandResult",
    "ConfigureDirectory",
    "DirectoryReady",
    "ErrorKind",
    "ErrorReply",
    "FlushLink",
    "ForStore",
    "ForkOwners",
    "IdleCheck",
    "IndexFlushed",
    "KeysChanged",
    "NudgeTurn",
    "OutcomeMessage",
    "OwnerActivated",
    "OwnerActivationFailed",
    "OwnerExited",
    "OwnerFenced",
    "OwnerIdle",
    "OwnerMoved",
    "OwnerPassivated",
    "OwnerPhase",
    "OwnerState",
    "OwnerWorkerStarted",
    "OwnersForked",
    "ParkedSession",
    "PassivateOwner",
    "PassivationRefused",
    "PingStream",
    "PumpStream",
    "QueryOwnerState",
    "QuerySessions",
    "QuerySystem",
    "QueuedTurn",
    "RegisterClient",
    "ReplaceOwner",
    "Route",
    "RunTurn",
    "SessionsPage",
    "SparesStopped",
    "StandBy",
    "StartNewTranscript",
    "StartOwnWorker",
    "StartWorker",
    "SteerStream",
    "StopSpares",
    "StopStream",
    "StreamBatch",
    "StreamDelta",
    "SubmitTurn",
    "SubmitTurns",
    "SyncDue",
    "SystemStatus",
    "TurnAccepted",
    "TurnOutcome",
    "TurnRecord",
    "UnparkSession",
    "WorkerIdleCheck",
    "WorkerLink",
    "WorkerReady",
]
