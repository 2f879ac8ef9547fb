"""What a new owner does with turns a previous owner acknowledged but never finished. Pure.

A turn is *finished* when the transcript holds its ``turn_end`` entry (or the inbox its
``finished`` line). Of the rest:

- a turn whose reply is already in the transcript (an assistant entry with
  ``stopReason: "stop"``) was completed, and only its ``turn_end`` is missing: it is
  closed as completed with that reply, never run again (a reply is never written twice);
- otherwise, by policy: ``requeue`` runs it once more (``attempts`` counts the crashes
  that interrupted it, and a turn already interrupted once is failed instead, so a turn
  that crashes its owner cannot loop; crashes while it only waited in the queue are not
  counted), or ``fail`` ends it with reason ``owner_lost``.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

import attrs

from sessionward.storage.entries import assistant_text, is_turn_end
from sessionward.storage.inbox import InboxTurn

MAX_REPLAYS = 1
"""A turn is re-queued at most this many times after owner crashes that interrupted it."""

SEND_AGAIN_WITHIN = 600.0
"""Seconds since its acceptance within which a turn a lost owner ended gets its outcome
sent again by the next owner (``ended_unheard``): longer than any submitter waits for an
answer it will still use, and as long as the Directory remembers the submits it forwarded
(``owner_slots.RECENT_SUBMITS_AFTER``)."""

SEND_AGAIN_MOST = 256
"""At most this many outcomes are sent again (the newest): a lost owner's earlier ones
were long delivered, and every copy is a transmit, perhaps to a submitter long gone."""


@attrs.frozen
class ReplayItem:
    turn: InboxTurn
    reply_to: Any
    """The submitter's address, if the inbox kept it."""
    request_id: str
    reply: str = ""
    """For ``already_completed``: the reply found in the transcript."""


@attrs.frozen
class ReplayPlan:
    requeue: tuple[ReplayItem, ...] = ()
    fail: tuple[ReplayItem, ...] = ()
    already_completed: tuple[ReplayItem, ...] = ()


def plan_replay(
    accepted: Iterable[InboxTurn],
    finished: Container[str],
    entries: Sequence[dict[str, Any]],
    *,
    policy: str,
) -> ReplayPlan:
    """Sort unfinished turns into re-queue, fail and already-completed."""
    ended = {e.get("turnId") for e in entries if is_turn_end(e)}
    replies: dict[str, list[str]] = {}
    for e in entries:
        message = e.get("message") if e.get("type") == "message" else None
        turn_id = e.get("turnId")
        if (isinstance(message, dict) and message.get("role") == "assistant" and message.get("stopReason") == "stop"
                and isinstance(turn_id, str)):
            replies.setdefault(turn_id, []).append(assistant_text(e))
    requeue, fail, done = [], [], []
    seen: set[str] = set()
    for turn in accepted:
        if turn.turn_id in finished or turn.turn_id in ended or turn.turn_id in seen:
            continue
        seen.add(turn.turn_id)
        reply_to, request_id = decode_reply(turn.reply)
        item = ReplayItem(turn, reply_to, request_id)
        if turn.turn_id in replies:
            done.append(attrs.evolve(item, reply="".join(replies[turn.turn_id])))
        elif policy == "requeue" and turn.attempts < MAX_REPLAYS:
            requeue.append(item)
        else:
            fail.append(item)
    return ReplayPlan(tuple(requeue), tuple(fail), tuple(done))


def ended_unheard(accepted: Sequence[InboxTurn], finished: Mapping[str, str], ended: Sequence[FinishedTurn],
                  now: float, *, within: float = SEND_AGAIN_WITHIN, most: int = SEND_AGAIN_MOST
                  ) -> list[tuple[ReplayItem, FinishedTurn]]:
    """The turns a *lost* owner ended whose outcome may never have reached their
    submitters, oldest first, each with the ``turn_end`` that ended it as the file holds it.

    An owner writes a turn's end (and fsyncs it) before it sends the outcome, and Thespian
    sends from the owner's own process after the handler returns: an owner SIGKILLed in
    between (its member killed, say) took the outcome with it, while the file says the turn
    is done, so no replay would ever answer it. Seen in the several-members test (1 run of
    20 beside two CPU burners; 3 of 12 on another day): a client waited for an outcome that
    never came. Nothing tells the successor which outcomes did arrive, so it sends again
    every one the inbox can still address: turns
    accepted in the last ``within`` seconds (the inbox holds every turn since the lost
    owner's activation), the newest ``most``. A submitter that has its answer ignores the
    copy (a client or lane matches outcomes by request id, and forgets a request once it is
    answered).

    A submit merged into another turn (collect, steer) has no ``turn_end`` of its own: the
    inbox's ``finished`` line names the turn it rode on (``finished``: turn id -> the turn
    whose ``turn_end`` ends it), and it gets that turn's outcome, as it did the first time.
    """
    by_id = {done.turn_id: done for done in ended}
    out: list[tuple[ReplayItem, FinishedTurn]] = []
    seen: set[str] = set()
    for turn in reversed(accepted):  # newest first, so that ``most`` keeps the newest
        if len(out) >= most:
            break
        done = by_id.get(turn.turn_id) or by_id.get(finished.get(turn.turn_id, ""))
        if done is None or turn.turn_id in seen or now - turn.accepted_time > within:
            continue
        seen.add(turn.turn_id)
        reply_to, request_id = decode_reply(turn.reply)
        if reply_to is not None:
            out.append((ReplayItem(turn, reply_to, request_id, reply=done.reply), done))
    out.reverse()
    return out


def decode_reply(blob: str | None) -> tuple[Any, str]:
    """The (address, request id) an inbox line kept; (None, "") when absent or unreadable."""
    if not blob:
        return None, ""
    try:
        reply_to, request_id = pickle.loads(base64.b64decode(blob))
        return reply_to, str(request_id)
    except Exception:
        return None, ""


@attrs.frozen
class FinishedTurn:
    """A turn the transcript records as ended (its ``turn_end`` entry)."""

    turn_id: str
    status: str
    reason: str | None
    idempotency_key: str | None
    reply: str
    lane: str


def finished_turns(entries: Sequence[dict[str, Any]], limit: int = 1000) -> list[FinishedTurn]:
    """The last ``limit`` ended turns, oldest first, with their replies and idempotency keys.

    A new owner answers a retried submit (same idempotency key) from these, so a client's
    retry after a lost acknowledgement, or the Directory's re-forward after an owner
    crash, never runs a turn twice.
    """
    replies: dict[str, list[str]] = {}
    lanes: dict[str, str] = {}
    out: list[FinishedTurn] = []
    for e in entries:
        turn_id = e.get("turnId")
        if not isinstance(turn_id, str):
            continue
        if is_turn_end(e):
            raw = e.get("data")
            data: dict[str, Any] = raw if isinstance(raw, dict) else {}
            out.append(FinishedTurn(turn_id, str(data.get("status", "")), data.get("reason"),
                                    data.get("idempotencyKey"), "".join(replies.pop(turn_id, [])),
                                    lanes.pop(turn_id, "")))
            continue
        message = e.get("message") if e.get("type") == "message" else None
        if isinstance(message, dict):
            if message.get("role") == "assistant":
                replies.setdefault(turn_id, []).append(assistant_text(e))
            elif message.get("role") == "user" and isinstance(e.get("lane"), str):
                lanes[turn_id] = e["lane"]
    return out[-limit:]
