"""What both timer lanes share: submitting, outcome bookkeeping, timers, deferred answers.

``TimerLane`` is the base of ``HeartbeatLane`` and ``CronLane`` (``sessionward.lanes.timers``,
whose docstring describes both). Subclasses decide what a tick means (``_tick``), when each
timer is next due (``_dues``), how a final outcome counts (``_finished``) and what their
stats are (``_stats``); this class does the messaging around those decisions.
"""

from __future__ import annotations

import uuid
from typing import Any

from thespian.actors import ActorExitRequest, PoisonMessage, WakeupMessage

from sessionward import clock
from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import ErrorReply, OutcomeMessage, SubmitTurn, TurnAccepted
from sessionward.error_kinds import reason_for
from sessionward.lanes.timer_messages import (
    LaneDue,
    QueryLaneStats,
    TickNow,
)
from sessionward.logs import ActorLogger
from sessionward.outcomes import TurnOutcome, TurnStatus

log = ActorLogger("sessionward.lanes")  # resolved per call: see sessionward.logs

ActorAddress = Any  # thespian.actors.ActorAddress

MAX_WAITERS = 100
"""Most deferred ``TickNow``/``QueryLaneStats`` answers a lane holds; older ones are
dropped (their askers have long timed out)."""

RETRY_AFTER = 60.0
"""Seconds before a timer whose tick raised is tried again."""

# -- the shared part of both lanes ----------------------------------------------------------


class TimerLane(GuardedActor):
    """Submitting, outcome bookkeeping, timers and deferred answers. Subclasses decide."""

    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._directory = None
        self._agent_id = ""
        self._ticks = 0
        self._submits: dict[str, str] = {}
        """Submit request id -> what it is for (a job name, or ``heartbeat``) until its
        final outcome. Invariant: at most one per job or heartbeat (overlaps are skipped)."""
        self._timer_due: dict[str, float] = {}
        """Timer name -> the due time of the latest armed wakeup; an older wakeup is stale."""
        self._tick_waiters: list[tuple[set[str], str, Any]] = []
        self._stat_waiters: list[tuple[QueryLaneStats, Any]] = []

    def _log_session(self) -> str | None:
        # A lane submits into many sessions of one agent; its agent is what names it.
        return f"agent:{self._agent_id}" if self._agent_id else None

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        if self._submits:
            # Their owners still give those turns outcomes; this lane just stops counting.
            log.info("%s of agent %s stops with %d turn(s) outstanding", type(self).__name__,
                     self._agent_id, len(self._submits))

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender) -> None:
        lost = msg.poisonMessage
        if isinstance(lost, SubmitTurn):
            # An undeliverable submit ends like a refused one, or its job would stay
            # "running" and every later tick would be skipped as an overlap.
            self.receiveMsg_ErrorReply(ErrorReply(lost.request_id, "unavailable",
                                                  "the directory could not be reached"), sender)
        else:
            log.warning("%s of agent %s could not deliver %s", type(self).__name__, self._agent_id,
                        type(lost).__name__)

    # -- subclass interface ---------------------------------------------------------------------

    def _tick(self, now: float, only: str | None) -> list[str]:
        """Run the schedule at ``now``; return the request ids of the turns submitted."""
        raise NotImplementedError

    def _dues(self) -> dict[str, float]:
        """Timer name -> when it is next due."""
        raise NotImplementedError

    def _finished(self, what: str, outcome: TurnOutcome) -> None:
        """Count a submitted turn's final outcome."""
        raise NotImplementedError

    def _stats(self, request_id: str):
        raise NotImplementedError

    # -- ticks --------------------------------------------------------------------------------------

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        if not isinstance(msg.payload, LaneDue):
            return
        name, due = msg.payload.timer, msg.payload.due
        if self._timer_due.get(name) != due:
            return  # superseded by a later arming (a TickNow moved the schedule)
        try:
            self._tick(clock.now(), name)
        except Exception:
            # Keep the timer alive, retried later rather than at once: a schedule that
            # fails on this due time would otherwise spin, or stop the lane for good.
            log.exception("%s of agent %s: tick of %s failed; retrying in %ss", type(self).__name__,
                          self._agent_id, name, RETRY_AFTER)
            self.wakeupAfter(RETRY_AFTER, payload=LaneDue(name, due))
            return
        del self._timer_due[name]
        self._after_tick()

    def receiveMsg_TickNow(self, msg: TickNow, sender) -> None:
        if self._directory is None:
            self.send(sender, ErrorReply(msg.request_id, "unavailable", "the lane is not configured"))
            return
        try:
            submitted = self._tick(msg.now, msg.job)
        except LookupError as exc:
            self.send(sender, ErrorReply(msg.request_id, "not_found", str(exc)))
            return
        self._after_tick()
        if submitted:
            self._tick_waiters.append((set(submitted), msg.request_id, sender))
            del self._tick_waiters[:-MAX_WAITERS]
        else:
            self.send(sender, self._stats(msg.request_id))

    def _after_tick(self) -> None:
        self._arm()
        self._answer_stat_waiters()

    def _arm(self) -> None:
        """Set a wakeup for every timer whose due time changed (late or early ticks are
        harmless: the schedule answers ``NotDue`` and nothing fires twice)."""
        for name, due in self._dues().items():
            if self._timer_due.get(name) != due:
                self._timer_due[name] = due
                self.wakeupAfter(max(0.0, due - clock.now()) + 0.001, payload=LaneDue(name, due))

    def _submit(self, what: str, session_key: str, lane: str, text: str,
                idempotency_key: str | None = None) -> str:
        request_id = uuid.uuid4().hex
        self._submits[request_id] = what
        self.send(self._directory, SubmitTurn(request_id, session_key, lane, text, mode="followup",
                                              idempotency_key=idempotency_key, reply_to=self.myAddress))
        return request_id

    # -- answers about submitted turns ----------------------------------------------------------

    def receiveMsg_TurnAccepted(self, msg: TurnAccepted, sender) -> None:
        self._answered(msg.request_id)

    def receiveMsg_OutcomeMessage(self, msg: OutcomeMessage, sender) -> None:
        outcome = msg.outcome
        # Counted before anyone is answered: a refused submit's first answer is its outcome.
        what = self._submits.pop(outcome.request_id, None) if outcome.final else None
        if what is not None:
            self._finished(what, outcome)
        self._answered(outcome.request_id)
        self._answer_stat_waiters()

    def receiveMsg_ErrorReply(self, msg: ErrorReply, sender) -> None:
        # The Directory could not route the submit (a bad key in the config, say): the
        # turn ends here as failed, so the job is not stuck "running" for ever.
        what = self._submits.pop(msg.request_id, None)
        if what is None:
            return
        log.error("lane %s of agent %s: submit refused: %s: %s", what, self._agent_id, msg.kind, msg.message)
        reason = reason_for(msg.kind)
        self._finished(what, TurnOutcome("", "", TurnStatus.FAILED, reason=reason, detail=msg.message,
                                         request_id=msg.request_id))
        self._answered(msg.request_id)
        self._answer_stat_waiters()

    def _answered(self, request_id: str) -> None:
        """The submit got its first answer: a ``TickNow`` waiting for it may be answered."""
        still = []
        for waiting, tick_id, reply_to in self._tick_waiters:
            waiting.discard(request_id)
            if waiting:
                still.append((waiting, tick_id, reply_to))
            else:
                self.send(reply_to, self._stats(tick_id))
        self._tick_waiters = still

    # -- stats ----------------------------------------------------------------------------------

    def receiveMsg_QueryLaneStats(self, msg: QueryLaneStats, sender) -> None:
        if self._ready(msg):
            self.send(sender, self._stats(msg.request_id))
        else:
            self._stat_waiters.append((msg, sender))
            del self._stat_waiters[:-MAX_WAITERS]

    def _ready(self, query: QueryLaneStats) -> bool:
        return self._ticks >= query.min_ticks and not (query.wait_idle and self._submits)

    def _answer_stat_waiters(self) -> None:
        still = []
        for query, reply_to in self._stat_waiters:
            if self._ready(query):
                self.send(reply_to, self._stats(query.request_id))
            else:
                still.append((query, reply_to))
        self._stat_waiters = still


# -- heartbeat -------------------------------------------------------------------------------
