"""Answers the Directory gives itself, when no owner will answer a request. Pure.

A parked session answers at once (submits fail ``parked``, queries say ``parked``); a
file with no owner answers a query with a passive snapshot and a command with "nothing is
running"; a failed activation fails every message held for it with the failure's reason.
Each function builds the reply record; the Directory sends it.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

import attrs

from sessionward.actors.messages import (
    CommandResult,
    ErrorReply,
    OutcomeMessage,
    OwnerState,
    ParkedSession,
    QueryOwnerState,
    SubmitTurn,
)
from sessionward.error_kinds import reason_for
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.recovery.replay import decode_reply
from sessionward.storage.inbox import InboxTurn
from sessionward.storage.store import SessionRecord


def passive_state(record: SessionRecord, path: str, request_id: str, now: float, *, missing: bool) -> OwnerState:
    """The snapshot of a session with no owner: ``passive``, or ``missing`` when the index
    names its file and the file is not there (``store.missing_transcript``)."""
    return OwnerState(record.session_key, record.session_id, path, "missing" if missing else "passive",
                      None, None, None, None, 0, (), 0, keys=(record.session_key,), request_id=request_id,
                      snapshot_time=now)


def no_owner(msg: Any) -> CommandResult:
    """A command (abort, cancel, nudge) for a session with no owner: nothing runs to act on."""
    return CommandResult(msg.request_id, False, "no live owner: nothing is running", getattr(msg, "turn_id", None))


def parked_answer(msg: Any, parked: ParkedSession, record: SessionRecord, now: float) -> Any:
    """A parked session's answer to ``msg``: a ``parked`` outcome for a submit, a ``parked``
    snapshot for a state query, a refusal naming the way out for a command."""
    detail = f"session parked: {parked.reason}; run `sessionward unpark {parked.session_key}`"
    if isinstance(msg, SubmitTurn):
        return OutcomeMessage(TurnOutcome(
            "", msg.session_key, TurnStatus.FAILED, reason=OutcomeReason.PARKED, detail=detail,
            lane=msg.lane, request_id=msg.request_id, finished_time=now))
    if isinstance(msg, QueryOwnerState):
        return attrs.evolve(passive_state(record, parked.file, msg.request_id, now, missing=False), state="parked")
    return CommandResult(msg.request_id, False, detail, getattr(msg, "turn_id", None))


def unfinished_turns_parked(session_key: str, reason: str, accepted: Iterable[InboxTurn], finished: Container[str],
                            already_told: set[Any], now: float) -> list[tuple[Any, OutcomeMessage]]:
    """``(reply_to, outcome)`` for each turn the parked file's owners acknowledged and never
    finished (from its inbox, which keeps where to reply), except requests already answered
    (``already_told``: request ids). Unparking fails them in the file; it never runs them."""
    out = []
    for turn in accepted:
        reply_to, request_id = decode_reply(turn.reply)
        if turn.turn_id in finished or reply_to is None or request_id in already_told:
            continue
        out.append((reply_to, OutcomeMessage(TurnOutcome(
            turn.turn_id, session_key, TurnStatus.FAILED, reason=OutcomeReason.PARKED,
            detail=f"session parked: {reason}", lane=turn.lane, request_id=request_id,
            accepted_time=turn.accepted_time, finished_time=now))))
    return out


def activation_failed_answer(msg: Any, kind: str, detail: str, now: float) -> Any:
    """The answer to ``msg``, held for an owner whose activation failed with ``kind``: a
    failed outcome for a submit, an ``ErrorReply`` of that kind for anything else."""
    if isinstance(msg, SubmitTurn):
        reason = reason_for(kind)
        return OutcomeMessage(TurnOutcome(
            "", msg.session_key, TurnStatus.FAILED, reason=reason, detail=detail,
            lane=msg.lane, request_id=msg.request_id, finished_time=now))
    return ErrorReply(msg.request_id, kind, detail)
