"""RecoveryActor: asks every owner how its turn is doing, and never re-fires a run.

Every ``recovery_tick`` it asks the Directory for every live owner's state (one fan-out;
owners that do not answer within the tick are listed as unanswered), feeds each answer to
the pure escalation ladder (``sessionward.recovery.escalation``), and sends the action it
returns: a nudge, an abort bound to the turn id it saw, or a request to replace a wedged
owner. It never submits a turn: the strongest thing it can do is ask the Directory for a
new owner, which replays the old one's inbox itself.
"""

from __future__ import annotations

import uuid

import attrs
from thespian.actors import WakeupMessage

from sessionward import clock
from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import (
    AbortTurn,
    CommandResult,
    ErrorReply,
    NudgeTurn,
    QuerySessions,
    ReplaceOwner,
    SessionsPage,
)
from sessionward.config import RecoveryConfig
from sessionward.logs import ActorLogger
from sessionward.recovery import escalation as esc
from sessionward.recovery.history import QueryRecoveryHistory, RecoveryHistory, RecoveryHistoryReply
from sessionward.recovery.stall import Thresholds

log = ActorLogger("sessionward.recovery")  # resolved per call: see sessionward.logs

RECOVERY_NAME = "sessionward.recovery"


@attrs.frozen
class Sweep:
    """The recovery actor's timer: every ``recovery_tick`` seconds, ask every owner its state."""


@attrs.frozen
class ConfigureRecovery:
    request_id: str
    directory: object
    config: RecoveryConfig


@attrs.frozen
class RecoveryReady:
    request_id: str


@attrs.frozen
class SweepNow:
    """Run one sweep now, as a tick would (tests that drive time with a fake clock)."""


class RecoveryActor(GuardedActor):
    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._directory = None
        self._thresholds: Thresholds | None = None
        self._states: dict[str, esc.EscalationState] = {}
        self._history = RecoveryHistory()
        self._sweep_id: str | None = None
        self._ticks = 0

    def receiveMsg_ConfigureRecovery(self, msg: ConfigureRecovery, sender) -> None:
        cfg = msg.config
        self._directory = msg.directory
        self._thresholds = cfg.thresholds()
        self._status_timeout = min(cfg.status_timeout, cfg.recovery_tick * 0.8)
        self.send(sender, RecoveryReady(msg.request_id))
        self.wakeupAfter(cfg.recovery_tick, payload=Sweep())

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        if not isinstance(msg.payload, Sweep) or self._thresholds is None:
            return
        self.wakeupAfter(self._thresholds.recovery_tick, payload=Sweep())
        self._sweep()

    def receiveMsg_SweepNow(self, msg: SweepNow, sender) -> None:
        if self._thresholds is not None:
            self._sweep()

    def _sweep(self) -> None:
        self._ticks += 1
        if self._sweep_id is None:  # one sweep in flight at a time
            self._sweep_id = uuid.uuid4().hex
            self.send(self._directory, QuerySessions(self._sweep_id, unbounded=True,
                                                     timeout=self._status_timeout))

    def receiveMsg_SessionsPage(self, msg: SessionsPage, sender) -> None:
        if msg.request_id != self._sweep_id:
            return
        self._sweep_id = None
        now = clock.now()
        seen = set()
        for state in msg.sessions:
            seen.add(state.session_key)
            self._observe(state.session_key, esc.OwnerStatus(state.turn_id, state.turn_started_time,
                                                             state.last_progress_time, state.queue_depth), now)
        for key in msg.unanswered:
            seen.add(key)
            self._observe(key, esc.NoAnswer(), now)
        for key in [k for k in self._states if k not in seen]:
            del self._states[key]  # passivated or gone: nothing to watch

    def _observe(self, key: str, observation, now: float) -> None:
        state = self._states.get(key, esc.EscalationState())
        state, action = esc.decide(state, observation, now, self._thresholds)
        self._history = esc.record_decision(self._history, key, state, action, now)
        self._states[key] = state
        request_id = uuid.uuid4().hex
        if isinstance(action, esc.Warn):
            log.warning("session %s turn %s is long-running (still streaming)", key, action.turn_id)
        elif isinstance(action, esc.Nudge):
            log.warning("session %s turn %s stalled: nudging its stream", key, action.turn_id)
            self.send(self._directory, NudgeTurn(request_id, key, action.turn_id, reply_to=self.myAddress))
        elif isinstance(action, esc.Abort):
            log.error("session %s turn %s stuck: aborting it (reason stalled)", key, action.turn_id)
            self.send(self._directory, AbortTurn(request_id, key, action.turn_id, reason="stalled",
                                                 reply_to=self.myAddress))
        elif isinstance(action, esc.Replace):
            if action.why == "silent":
                log.error("session %s owner did not answer: asking the Directory to replace it", key)
            else:
                log.error("session %s owner could not end aborted turn %s: asking the Directory to replace it",
                          key, action.turn_id)
            self.send(self._directory, ReplaceOwner(request_id, key, reason=action.why, reply_to=self.myAddress))

    def receiveMsg_CommandResult(self, msg: CommandResult, sender) -> None:
        if not msg.ok:
            log.info("recovery action refused: %s", msg.detail)

    def receiveMsg_ErrorReply(self, msg: ErrorReply, sender) -> None:
        log.warning("recovery action failed: %s %s", msg.kind, msg.message)

    def receiveMsg_QueryRecoveryHistory(self, msg: QueryRecoveryHistory, sender) -> None:
        now = clock.now()
        counts = {str(k): v for k, v in self._history.counts_since(now - 3600).items()}
        self.send(sender, RecoveryHistoryReply(msg.request_id, self._history.since(msg.since_time), counts,
                                               self._ticks))
