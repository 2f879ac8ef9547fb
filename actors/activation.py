"""What a session owner decides when it activates. Pure: given ``now``; no file I/O.

Three decisions: who the owner is (``OwnerSetup``, from the Directory's ``ActivateOwner``),
which error kind a failed open reports (``activation_error``), and what becomes of the
turns a previous owner acknowledged and never finished (``replay``, on the plan
``sessionward.recovery.replay.plan_replay`` made). The owner then does the I/O: it appends
the ``turn_end`` entries the replay lists, sends its outcomes and rewrites its inbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from sessionward.actors.ledger import Delivery, TurnLedger, inbox_record, replayed_ticket
from sessionward.actors.owner_protocol import ActivateOwner
from sessionward.actors.turn_protocol import ErrorKind
from sessionward.config import RuntimeConfig
from sessionward.errors import BadInputError, SessionOwnedElsewhereError, TranscriptMissingError
from sessionward.lanes import queue_policy as qp
from sessionward.outcomes import OutcomeReason, TurnStatus
from sessionward.providers.base import build_provider
from sessionward.recovery.replay import ended_unheard, finished_turns, plan_replay
from sessionward.storage import entries as E
from sessionward.storage.inbox import InboxTurn


@attrs.frozen
class OwnerSetup:
    """Who an owner is, for its whole life: what the Directory told it, and what it
    learnt from building its provider once."""

    session_key: str = ""
    session_id: str = ""
    path: str = ""
    config: RuntimeConfig = attrs.Factory(RuntimeConfig)
    provider: Any = None
    """A picklable provider or a ``ProviderSpec`` (what the worker is started with)."""
    member: str = "local"
    can_steer: bool = False
    identity: tuple[str, str, str] = (E.UNKNOWN, E.UNKNOWN, E.UNKNOWN)
    """``(api, provider, model)`` for messages no ``MessageEnd`` describes."""
    built: Any = None
    """The provider built in this process (None if it could not be): what streams run
    with when ``stream_in`` is ``owner``."""


def setup_for(msg: ActivateOwner) -> OwnerSetup:
    """The owner's setup for ``msg``. A provider that cannot be built here steers nothing
    (a ``ProviderSpec`` says nothing about steering until it is built)."""
    can_steer, identity, built = False, (E.UNKNOWN, E.UNKNOWN, E.UNKNOWN), None
    try:
        built = build_provider(msg.provider)
        can_steer = bool(getattr(built, "supports_steering", False))
        identity = E.provider_identity(built)
    except Exception:
        can_steer = False
    return OwnerSetup(msg.session_key, msg.session_id, msg.path, msg.config, msg.provider, msg.member,
                      can_steer, identity, built)


def on_chosen_member(capabilities: dict[str, Any], requirements: dict[str, Any] | None) -> bool:
    """Thespian asks this where to create an owner: on the member the Directory chose."""
    wanted = (requirements or {}).get("sessionward.member")
    return wanted is None or capabilities.get("sessionward.member", "local") == wanted


_ACTIVATION_ERRORS = (  # in this order: TranscriptMissingError is a BadInputError
    (SessionOwnedElsewhereError, ErrorKind.OWNED_ELSEWHERE),
    (TranscriptMissingError, ErrorKind.TRANSCRIPT_MISSING),
    (BadInputError, ErrorKind.CORRUPT_TRANSCRIPT),
    (OSError, ErrorKind.IO_ERROR),
)


def activation_error(exc: Exception) -> ErrorKind | None:
    """The kind a failed open of the transcript reports; None: a bug, not an activation
    failure (the actor's guard logs it)."""
    return next((kind for cls, kind in _ACTIVATION_ERRORS if isinstance(exc, cls)), None)


@attrs.frozen
class Closing:
    """A ``turn_end`` entry the replay needs written (its outcome is in ``Replay.deliveries``)."""

    turn: InboxTurn
    status: TurnStatus
    reason: OutcomeReason | None = None


@attrs.frozen
class Replay:
    """What an activation does with its predecessors' unfinished turns."""

    closings: tuple[Closing, ...]
    """``turn_end`` entries to append, in this order."""
    deliveries: tuple[Delivery, ...]
    """The outcomes to send: after a loss, those of turns the lost owner ended lately
    (sent again), then the closings', in the same order as they."""
    queue: qp.SessionQueue
    """The queue with the re-queued turns restored."""
    pending: tuple[InboxTurn, ...]
    """The re-queued turns, as the compacted inbox holds them."""


def replay(entries: Sequence[dict[str, Any]], accepted: Sequence[InboxTurn], finished: Mapping[str, str],
           ledger: TurnLedger, queue: qp.SessionQueue, now: float, *, policy: str,
           fail_as: OutcomeReason | None = None, after_loss: bool = False) -> Replay:
    """Decide what becomes of the turns the inbox (``accepted``, ``finished``) holds and the
    file (``entries``) does not end. Turns the file ends answer their retries from
    ``ledger``. Of the rest (``plan_replay`` sorts them): those whose reply is already in
    the file are closed as completed, never re-run (a reply is never written twice); those
    re-queued get their tickets opened in ``ledger``; the rest fail.

    ``fail_as`` (after an admin unparks the session) fails every one of them with that
    reason: their submitters were told so when the session was parked. Otherwise a failed
    one gets ``owner_lost``.

    ``after_loss`` (the previous owner died, or was ended as wedged): the outcomes of the
    turns it ended lately are sent again first, since it may have died before they left
    its process (``ended_unheard``).
    """
    ended = finished_turns(entries)
    for done in ended:
        ledger.restore_finished(done)
    plan = plan_replay(accepted, finished, entries, policy="fail" if fail_as else policy)
    closings: list[Closing] = []
    deliveries: list[Delivery] = []
    if after_loss:
        deliveries.extend(Delivery(item.reply_to, ledger.ended_outcome(done, item.request_id, item.turn.lane))
                          for item, done in ended_unheard(accepted, finished, ended, now))
    for item in plan.already_completed:
        closings.append(Closing(item.turn, TurnStatus.COMPLETED))
        deliveries.append(Delivery(item.reply_to, ledger.close_replayed(
            item.turn, item.request_id, TurnStatus.COMPLETED, now, reply=item.reply)))
    pending: list[InboxTurn] = []
    # A re-queued turn whose user entry is already in the file goes first: anything run
    # before it would split it in the file (``qp.restore(started=True)``).
    started = {e.get("turnId") for e in entries if e.get("turnId")}
    for item in plan.requeue:
        # Only a crash that interrupted the turn counts (its entries are in the file): one
        # that came while it waited in the queue says nothing about the turn, and counting
        # it failed a turn that never ran as ``owner_lost`` after two crashes in a row.
        ran = item.turn.turn_id in started
        turn = attrs.evolve(item.turn, attempts=item.turn.attempts + (1 if ran else 0))
        ticket = replayed_ticket(turn, item.reply_to, item.request_id)
        pending.append(inbox_record(turn, ticket))
        ledger.open(ticket)
        queue = qp.restore(queue, qp.PendingTurn(
            turn.turn_id, turn.lane, turn.text, qp.QueueMode.FOLLOWUP, turn.accepted_time),
            started=turn.turn_id in started)
    reason = fail_as or OutcomeReason.OWNER_LOST
    detail = ("the session was parked before this turn finished" if fail_as else
              "the owner died before this turn finished; it was not run again")
    for item in plan.fail:
        closings.append(Closing(item.turn, TurnStatus.FAILED, reason))
        deliveries.append(Delivery(item.reply_to, ledger.close_replayed(
            item.turn, item.request_id, TurnStatus.FAILED, now, reason=reason, detail=detail)))
    return Replay(tuple(closings), tuple(deliveries), queue, tuple(pending))
