"""The turn ledger: what a session owner owes each accepted turn, and the one place a
``TurnOutcome`` is built. Pure: every function is given ``now``; no clock, no actor engine.

The owner asks the ledger and then acts: it writes the inbox lines and sends the
outcomes a ``Settlement`` lists, and never builds an outcome itself. Keeping both here
means "every accepted turn ends with exactly one outcome" is checked in one module, by
tests without an actor system (``tests/test_ledger.py``).

What the ledger holds:

- **tickets**: every accepted turn that still owes an outcome, in acceptance order;
- **riders**: who else gets a ticket's final outcome. A ``Ticket`` rides on the turn it
  was merged into (collect) or handed to (steer); a ``Retry`` is a client's resubmit with
  the same idempotency key while the turn still runs. A retry is not a turn: it has no
  turn id, writes no inbox line and never owes a ``turn_end`` of its own, which is why it
  is its own record (it used to be a fake ``dup:<request id>`` ticket, and finishing
  that ticket wrote its turn's ``turn_end`` a second time);
- **idempotency**: key -> turn id, and recent final outcomes by turn id, so a retry of a
  finished turn is answered from memory and never runs again;
- **history**: the last ``HISTORY_SIZE`` finished turns and the session's counters.

Read with ``sessionward.actors.owner`` (which acts on the answers) and
``sessionward.recovery.replay`` (which decides what an activation re-queues).
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

import attrs

from sessionward.actors.admin_protocol import TurnRecord
from sessionward.actors.turn_protocol import AcceptDecision
from sessionward.lanes import queue_policy as qp
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.recovery.replay import FinishedTurn
from sessionward.storage.inbox import InboxTurn

HISTORY_SIZE = 20
"""How many finished turns an owner remembers for ``sessionward session KEY``."""

REMEMBERED_OUTCOMES = 1000
"""How many final outcomes are kept for retries: idempotent retries are for recent turns."""


@attrs.frozen
class Retry:
    """A resubmit with a known idempotency key, waiting for that turn's final outcome."""

    request_id: str
    lane: str
    reply_to: Any


@attrs.define
class Ticket:
    """What the ledger keeps per accepted turn until its final outcome. Mutable: the owner
    rewrites ``text`` (a collect carrier's holds its riders' texts) and ``mode`` (the mode
    applied) while the turn waits."""

    turn_id: str
    lane: str
    text: str
    mode: qp.QueueMode
    accepted_time: float
    reply_to: Any
    request_id: str
    want_deltas: bool = False
    idempotency_key: str | None = None
    replayed: bool = False
    """Re-queued by an activation: its user entry may already be in the file."""
    riders: list[Ticket | Retry] = attrs.Factory(list)
    """Who also gets this turn's final outcome, in arrival order."""


@attrs.frozen
class Delivery:
    """One outcome for one address (``reply_to`` None: nobody to send it to)."""

    reply_to: Any
    outcome: TurnOutcome


@attrs.frozen
class Settlement:
    """What ending a turn asks of the owner: write a ``finished`` inbox line (status
    ``outcome.status``) for each of ``finished``, then send ``deliveries``."""

    outcome: TurnOutcome
    finished: tuple[str, ...]
    deliveries: tuple[Delivery, ...]


@attrs.frozen
class RunFacts:
    """What a turn that ran adds to its outcome."""

    reply: str
    started_time: float
    stream_seconds: float
    provider_error: str | None = None


@attrs.frozen
class RetryAnswer:
    """How to answer a resubmit whose idempotency key the ledger knows."""

    turn_id: str
    forwarded_again: bool = False
    """The Directory re-forwarded the very submit the ledger holds: answer nothing."""
    outcome: TurnOutcome | None = None
    """The turn's final outcome, for the retry's request id, if it has one already."""


class TurnLedger:
    """One session's ledger. Mutable live state; ``history`` and ``counts`` are snapshots."""

    def __init__(self, session_key: str) -> None:
        self.session_key = session_key
        self._open: dict[str, Ticket] = {}
        self._keys: dict[str, str] = {}
        self._finished: dict[str, TurnOutcome] = {}
        self._history: list[TurnRecord] = []
        self._counts = {"completed": 0, "failed": 0, "heartbeat_skipped": 0}

    # -- tickets ---------------------------------------------------------------------------

    def open(self, ticket: Ticket) -> None:
        """Record an accepted (or re-queued) turn: from now on it owes an outcome."""
        self._open[ticket.turn_id] = ticket
        if ticket.idempotency_key:
            self._keys[ticket.idempotency_key] = ticket.turn_id

    def get(self, turn_id: str) -> Ticket | None:
        return self._open.get(turn_id)

    def owed(self, running: Ticket | None) -> list[Ticket]:
        """Turns that still owe an outcome, the running one first. Riders are left out:
        ending their carrier ends them."""
        riding = {id(r) for t in self._open.values() for r in t.riders}
        rest = [t for t in self._open.values() if t is not running and id(t) not in riding]
        return ([running] if running is not None else []) + rest

    # -- submits ---------------------------------------------------------------------------

    def answer_retry(self, key: str, request_id: str, lane: str, reply_to: Any) -> RetryAnswer | None:
        """None when ``key`` is new. Otherwise the answer; a retry of a turn still owing
        its outcome rides on it (and gets it under its own request id)."""
        turn_id = self._keys.get(key)
        if turn_id is None:
            return None
        ticket = self._open.get(turn_id)
        if ticket is not None and ticket.request_id == request_id:
            return RetryAnswer(turn_id, forwarded_again=True)
        done = self._finished.get(turn_id)
        if done is not None:
            return RetryAnswer(turn_id, outcome=attrs.evolve(done, request_id=request_id))
        if ticket is not None:
            ticket.riders.append(Retry(request_id, lane, reply_to))
        return RetryAnswer(turn_id)

    def refused(self, lane: str, request_id: str, reason: OutcomeReason, detail: str, now: float,
                status: TurnStatus = TurnStatus.FAILED) -> TurnOutcome:
        """The outcome of a submit that was never accepted (it has no turn id)."""
        if reason is OutcomeReason.HEARTBEAT_SKIPPED:
            self._counts["heartbeat_skipped"] += 1
        return TurnOutcome("", self.session_key, status, reason=reason, detail=detail, lane=lane,
                           request_id=request_id, finished_time=now)

    def merge(self, turn_id: str, into_turn_id: str, mode: qp.QueueMode) -> Delivery | None:
        """Turn ``turn_id`` was coalesced into (collect) or handed to (steer) ``into_turn_id``:
        it rides on that turn, and its submitter hears ``merged`` now."""
        rider = self._open.get(turn_id)
        if rider is None:
            return None
        self._open[into_turn_id].riders.append(rider)
        return Delivery(rider.reply_to, TurnOutcome(
            turn_id, self.session_key, TurnStatus.MERGED, merged_into=into_turn_id, lane=rider.lane,
            mode_applied=mode, request_id=rider.request_id))

    # -- endings ---------------------------------------------------------------------------

    def settle(self, ticket: Ticket, status: TurnStatus, reason: OutcomeReason | None, detail: str,
               now: float, run: RunFacts | None = None) -> Settlement:
        """End ``ticket`` and everything riding on it with one final outcome."""
        outcome = TurnOutcome(
            ticket.turn_id, self.session_key, status, reason=reason, detail=detail, lane=ticket.lane,
            mode_applied=ticket.mode, request_id=ticket.request_id, accepted_time=ticket.accepted_time,
            finished_time=now)
        if run is not None:  # a turn that never ran has no reply (None, not ""), start or stream time
            outcome = attrs.evolve(outcome, reply=run.reply, started_time=run.started_time,
                                   stream_seconds=run.stream_seconds, provider_error=run.provider_error)
        self._open.pop(ticket.turn_id, None)
        self._remember(ticket.turn_id, outcome)
        self._counts["completed" if status is TurnStatus.COMPLETED else "failed"] += 1
        self._history.append(TurnRecord(ticket.turn_id, ticket.lane, status, reason, now))
        del self._history[:-HISTORY_SIZE]
        finished = [ticket.turn_id]
        deliveries = [Delivery(ticket.reply_to, outcome)]
        self._settle_riders(ticket, outcome, finished, deliveries)
        return Settlement(outcome, tuple(finished), tuple(deliveries))

    def _settle_riders(self, ticket: Ticket, outcome: TurnOutcome, finished: list[str],
                       deliveries: list[Delivery]) -> None:
        for rider in ticket.riders:
            deliveries.append(Delivery(rider.reply_to, attrs.evolve(
                outcome, request_id=rider.request_id, lane=rider.lane)))
            if isinstance(rider, Ticket):
                self._open.pop(rider.turn_id, None)
                finished.append(rider.turn_id)
                # A later retry of a merged or steered submit finds its turn's outcome.
                self._remember(rider.turn_id, outcome)
                # A retry that arrived while this rider waited rides on it, not on the carrier.
                self._settle_riders(rider, outcome, finished, deliveries)

    def _remember(self, turn_id: str, outcome: TurnOutcome) -> None:
        self._finished[turn_id] = outcome
        while len(self._finished) > REMEMBERED_OUTCOMES:
            self._finished.pop(next(iter(self._finished)))

    # -- activation ------------------------------------------------------------------------

    def restore_finished(self, done: FinishedTurn) -> None:
        """A turn the file records as ended answers its retries from memory."""
        if done.idempotency_key:
            self._keys[done.idempotency_key] = done.turn_id
            self._remember(done.turn_id, self.ended_outcome(done))

    def ended_outcome(self, done: FinishedTurn, request_id: str = "", lane: str | None = None) -> TurnOutcome:
        """The final outcome of a turn the file records as ended, as a submitter got it (or
        should have: ``sessionward.recovery.replay.ended_unheard``): its own, or, for a submit
        merged into it, under that submit's request id and lane (as ``settle`` sends it)."""
        return TurnOutcome(done.turn_id, self.session_key, _status(done.status), reply=done.reply,
                           reason=_reason(done.reason), lane=done.lane if lane is None else lane,
                           request_id=request_id)

    def close_replayed(self, turn: InboxTurn, request_id: str, status: TurnStatus, now: float, *,
                       reason: OutcomeReason | None = None, detail: str = "", reply: str | None = None
                       ) -> TurnOutcome:
        """End a turn a previous owner left unfinished (completed: its reply is in the file;
        failed: it is not run again). It answers its retries, and the Directory's
        re-forward of its submit, from memory: without that, a re-forwarded submit of a turn
        just failed as ``owner_lost`` was accepted as a new turn and ran its provider a
        third time."""
        outcome = TurnOutcome(turn.turn_id, self.session_key, status, reply=reply, reason=reason,
                              detail=detail, lane=turn.lane, request_id=request_id, finished_time=now)
        if turn.idempotency_key:
            self._keys[turn.idempotency_key] = turn.turn_id
            self._remember(turn.turn_id, outcome)
        return outcome

    # -- snapshots -------------------------------------------------------------------------

    @property
    def history(self) -> tuple[TurnRecord, ...]:
        return tuple(self._history)

    @property
    def counts(self) -> dict[str, int]:
        """``completed``, ``failed`` (every other final status) and ``heartbeat_skipped``."""
        return dict(self._counts)


def accepted_as(decision: qp.Decision, mode: qp.QueueMode) -> tuple[AcceptDecision, int, qp.QueueMode]:
    """What ``TurnAccepted`` says of an admission: ``(decision, position, mode applied)``.
    ``decision`` is never ``Refused``: a refused submit is not accepted."""
    match decision:
        case qp.Queued(position=position, fell_back_from=fell_back):
            return AcceptDecision.QUEUED, position, (qp.QueueMode.FOLLOWUP if fell_back else mode)
        case qp.Collecting():
            return AcceptDecision.COLLECTING, 0, qp.QueueMode.COLLECT
        case qp.Steered():
            return AcceptDecision.STEERED, 0, qp.QueueMode.STEER
        case qp.Interrupting():
            return AcceptDecision.INTERRUPTING, 0, qp.QueueMode.INTERRUPT
    raise ValueError(f"not an acceptance: {decision!r}")


def replayed_ticket(turn: InboxTurn, reply_to: Any, request_id: str) -> Ticket:
    """The ticket of a turn an activation re-queues (its submitter's address from the inbox)."""
    return Ticket(turn.turn_id, turn.lane, turn.text, _mode(turn.mode), turn.accepted_time, reply_to,
                  request_id, idempotency_key=turn.idempotency_key, replayed=True)


def inbox_record(turn: InboxTurn, ticket: Ticket) -> InboxTurn:
    """``turn`` with where its outcome goes, so a new owner can still deliver it (read back
    by ``sessionward.recovery.replay.decode_reply``)."""
    try:
        blob: str | None = base64.b64encode(pickle.dumps((ticket.reply_to, ticket.request_id))).decode("ascii")
    except Exception:  # an address that does not pickle: the outcome stays queryable only
        blob = None
    return attrs.evolve(turn, reply=blob)


def _status(value: str) -> TurnStatus:
    try:
        return TurnStatus(value)
    except ValueError:
        return TurnStatus.FAILED


def _reason(value: str | None) -> OutcomeReason | None:
    try:
        return None if value is None else OutcomeReason(value)
    except ValueError:
        return OutcomeReason.INTERNAL_ERROR


def _mode(value: str) -> qp.QueueMode:
    try:
        return qp.QueueMode(value)
    except ValueError:  # the inbox only ever holds QueueMode values; a foreign line queues
        return qp.QueueMode.FOLLOWUP
