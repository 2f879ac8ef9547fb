"""What becomes of a submitted turn. Pure: given ``now`` and the session's state.

``intake`` answers a ``SubmitTurn`` with one decision, checked in this order: a draining
owner refuses (``shut_down``); text that fails validation is ``Invalid`` (an
``ErrorReply``, not an outcome: nothing was accepted); a known idempotency key is a
``Retried`` (the ledger's answer); then ``queue_policy.admit`` decides, and a turn it
refuses gets ``Refused`` with its outcome reason. Everything else is ``Accepted``: the
owner records it in the inbox, then opens its ticket and acknowledges it (in that order:
an acknowledged turn survives a crash).
"""

from __future__ import annotations

from typing import Any

import attrs

from sessionward.actors.activation import OwnerSetup
from sessionward.actors.ledger import RetryAnswer, Ticket, TurnLedger, accepted_as, inbox_record
from sessionward.actors.turn_protocol import AcceptDecision, SubmitTurn
from sessionward.errors import BadInputError
from sessionward.lanes import queue_policy as qp
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.storage.inbox import InboxTurn
from sessionward.storage.validation import validate_text


@attrs.frozen
class Refused:
    """Not accepted: the submitter gets this outcome (built by the ledger)."""

    outcome: TurnOutcome


@attrs.frozen
class Invalid:
    """Bad input: the submitter gets ``ErrorReply`` kind ``invalid_message``."""

    message: str


@attrs.frozen
class Retried:
    """A resubmit with a known idempotency key (see ``TurnLedger.answer_retry``)."""

    answer: RetryAnswer


@attrs.frozen
class Accepted:
    """A new turn: record ``inbox`` first, then open ``ticket``, take ``admission.queue``
    and acknowledge with ``decision``, ``position`` and the ticket's mode."""

    ticket: Ticket
    inbox: InboxTurn
    admission: qp.Admission
    decision: AcceptDecision
    position: int


Intake = Refused | Invalid | Retried | Accepted


def intake(msg: SubmitTurn, reply_to: Any, turn_id: str, now: float, *, draining: bool, setup: OwnerSetup,
           ledger: TurnLedger, queue: qp.SessionQueue, running: Ticket | None) -> Intake:
    """Decide what happens to ``msg`` (which gets ``turn_id`` if accepted). A ``Retried``
    of a turn that still runs has already made the retry ride on it."""
    config = setup.config

    def refused(reason: OutcomeReason, detail: str, status: TurnStatus = TurnStatus.FAILED) -> Refused:
        return Refused(ledger.refused(msg.lane, msg.request_id, reason, detail, now, status))

    if draining:
        return refused(OutcomeReason.SHUT_DOWN, "the runtime is shutting down")
    try:
        validate_text(msg.text, config.max_message_bytes)
    except BadInputError as exc:
        return Invalid(str(exc))
    if msg.idempotency_key:
        answer = ledger.answer_retry(msg.idempotency_key, msg.request_id, msg.lane, reply_to)
        if answer is not None:
            return Retried(answer)
    mode = msg.mode or config.queue.default_mode
    admission = qp.admit(queue, qp.PendingTurn(turn_id, msg.lane, msg.text, mode, now),
                         running=qp.RunningTurn(running.turn_id, running.lane) if running else None,
                         can_steer=setup.can_steer, policy=config.queue, now=now)
    match admission.decision:
        case qp.Refused(reason=qp.RefusalReason.HEARTBEAT_SKIPPED):
            return refused(OutcomeReason.HEARTBEAT_SKIPPED, "session busy", TurnStatus.CANCELLED)
        case qp.Refused():
            return refused(OutcomeReason.BUSY, f"queue is full ({config.queue.max_queued})")
    decision, position, applied = accepted_as(admission.decision, mode)
    ticket = Ticket(turn_id, msg.lane, msg.text, applied, now, reply_to, msg.request_id, msg.want_deltas,
                    msg.idempotency_key)
    # The inbox keeps the mode asked for; the ticket (and so the outcome) the mode applied.
    record = inbox_record(InboxTurn(turn_id, msg.lane, msg.text, mode.value, now, msg.idempotency_key), ticket)
    return Accepted(ticket, record, admission, decision, position)
