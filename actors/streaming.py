"""Streaming into entries: how a running turn's provider events become transcript entries.
Pure: given ``now`` and what it needs to know of the file; it writes nothing.

The owner keeps one ``TurnRun`` for its running turn and hands each ``StreamBatch``'s
events to ``apply_batch``, which returns the entries to append and, when the stream is
over, how the turn ends. Entries are built in order and each is the child of the one
before it, so a batch's entries form one chain from the file's leaf; ``EntryContext``
carries the file's ids and leaf so that the ids of entries not yet written are unique too.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import attrs

from sessionward.actors.ledger import RunFacts, Ticket
from sessionward.outcomes import OutcomeReason, TurnStatus
from sessionward.providers.base import MessageEnd, ProviderFailure, TextDelta, ThinkingDelta, ToolCall, ToolResult
from sessionward.storage import entries as E


@attrs.define
class TurnRun:
    """The running turn. Mutable; lives in the owner only."""

    ticket: Ticket
    started_time: float
    last_progress_time: float
    content: list[dict[str, Any]] = attrs.Factory(list)
    """The open assistant message's content blocks."""
    reply_parts: list[str] = attrs.Factory(list)
    stream_seconds: float = 0.0

    def facts(self, provider_error: str | None = None) -> RunFacts:
        """What this run adds to its turn's outcome."""
        return RunFacts("".join(self.reply_parts), self.started_time, self.stream_seconds, provider_error)


@attrs.frozen
class EntryContext:
    """What building entries needs to know of the file and the provider."""

    ids: Container[str]
    """The ids of the file's entries (live: the file adds each appended one)."""
    leaf_id: str | None
    identity: tuple[str, str, str]
    """``(api, provider, model)`` for messages no ``MessageEnd`` describes."""


@attrs.frozen
class TurnEnd:
    """How a stream ended its turn."""

    status: TurnStatus
    reason: OutcomeReason | None = None
    detail: str = ""
    provider_error: str | None = None


WORKER_EXITED = TurnEnd(TurnStatus.FAILED, OutcomeReason.PROVIDER_ERROR, "the turn worker exited", "connection")
"""The worker died under a running turn: it fails rather than wait forever."""


@attrs.frozen
class BatchStep:
    """What one ``StreamBatch`` asks of the owner."""

    entries: list[dict[str, Any]]
    """To append (before the ``turn_end`` entry, when ``end`` is set)."""
    delta: str
    """New assistant text, for submitters that want deltas."""
    end: TurnEnd | None
    """Set when the turn is over: end it so."""


def apply_batch(run: TurnRun, events: Sequence[Any], done: bool, now: float, ctx: EntryContext) -> BatchStep:
    """Fold a batch of stream events into ``run`` and the entries they complete."""
    run.last_progress_time = now
    pending: list[dict[str, Any]] = []
    failure: ProviderFailure | None = None
    delta: list[str] = []
    for event in events:
        if isinstance(event, TextDelta):
            _add_text(run.content, "text", event.text)
            run.reply_parts.append(event.text)
            delta.append(event.text)
        elif isinstance(event, ThinkingDelta):
            _add_text(run.content, "thinking", event.text)
        elif isinstance(event, ToolCall):
            run.content.append({"type": "toolCall", "id": event.call_id, "name": event.name,
                                "arguments": event.arguments})
        elif isinstance(event, MessageEnd):
            pending.append(close_message(run, event.stop_reason, now, ctx, pending, end=event))
        elif isinstance(event, ToolResult):
            if run.content:
                pending.append(close_message(run, "toolUse", now, ctx, pending))
            pending.append(E.tool_result_entry(
                call_id=event.call_id, name=event.name, content=event.content, is_error=event.is_error,
                turn_id=run.ticket.turn_id, ids=_Ids(ctx.ids, pending), parent_id=_leaf(ctx, pending), now=now))
        elif isinstance(event, ProviderFailure):
            failure = event
            break
    end = None
    if failure is not None:
        if run.content or not pending:  # a failed turn always ends with an assistant message
            pending.append(close_message(run, "error", now, ctx, pending, failure.message))
        end = TurnEnd(TurnStatus.FAILED, OutcomeReason.PROVIDER_ERROR,
                      f"{failure.provider or 'provider'}: {failure.kind}: {failure.message}", str(failure.kind))
    elif done:
        if run.content:
            pending.append(close_message(run, "stop", now, ctx, pending))
        end = TurnEnd(TurnStatus.COMPLETED)
    return BatchStep(pending, "".join(delta), end)


def abort(run: TurnRun, reason: OutcomeReason, detail: str, now: float, ctx: EntryContext) -> BatchStep:
    """End ``run`` early: a stall or a lost lease fails it, an admin abort or an interrupt cancels it."""
    pending: list[dict[str, Any]] = []
    if run.content:  # a partial assistant message is closed, never left dangling
        pending.append(close_message(run, "aborted", now, ctx, pending))
    status = TurnStatus.FAILED if reason in (OutcomeReason.STALLED, OutcomeReason.LEASE_LOST) \
        else TurnStatus.CANCELLED
    return BatchStep(pending, "", TurnEnd(status, reason, detail))


def close_message(run: TurnRun, stop_reason: str, now: float, ctx: EntryContext, pending: list[dict[str, Any]],
                  error: str | None = None, end: MessageEnd | None = None) -> dict[str, Any]:
    """The open assistant message as an entry (a partial one is closed, never left dangling)."""
    api, provider, model = ctx.identity
    if end is not None:  # the stream's own account wins (a failover chain's answering member)
        api, provider, model = end.api or api, end.provider or provider, end.model or model
    entry = E.assistant_entry(
        run.content, stop_reason=stop_reason, provider=provider, api=api, model=model,
        usage=end.usage if end is not None else None, turn_id=run.ticket.turn_id,
        ids=_Ids(ctx.ids, pending), parent_id=_leaf(ctx, pending), now=now, error_message=error)
    run.content = []
    return entry


def turn_end(turn_id: str, idempotency_key: str | None, status: TurnStatus, reason: OutcomeReason | None,
             now: float, ctx: EntryContext, pending: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``turn_end`` entry that closes turn ``turn_id`` after ``pending``."""
    pending = pending or []
    return E.turn_end_entry(turn_id=turn_id, status=status.value,
                            reason=None if reason is None else str(reason), ids=_Ids(ctx.ids, pending),
                            parent_id=_leaf(ctx, pending), now=now, idempotency_key=idempotency_key)


class _Ids:
    """The file's entry ids plus those of entries about to be appended (for unique ids)."""

    __slots__ = ("_ids", "_pending")

    def __init__(self, ids: Container[str], pending: list[dict[str, Any]]) -> None:
        self._ids, self._pending = ids, pending

    def __contains__(self, item: object) -> bool:
        return item in self._ids or any(e["id"] == item for e in self._pending)


def _leaf(ctx: EntryContext, pending: list[dict[str, Any]]) -> str | None:
    return pending[-1]["id"] if pending else ctx.leaf_id


def _add_text(content: list[dict[str, Any]], kind: str, text: str) -> None:
    if content and content[-1].get("type") == kind:
        content[-1][kind] += text
    else:
        content.append({"type": kind, kind: text})
