"""SessionOwner: the one actor that owns a session file and runs its turns one at a time.

It holds the file's exclusive lock for its whole life, records every accepted turn in the
inbox before acknowledging it, writes every transcript entry itself (after a fence check),
and gives every accepted turn exactly one final outcome. Streams run in a TurnWorker
child, so this actor's handlers stay short: it answers state queries, accepts and queues
turns and aborts its own turn while a stream is in flight.

Read with ``sessionward.lanes.queue_policy`` (which turn runs next, collect, steer,
interrupt) and ``sessionward.recovery.replay`` (what an activation re-queues).
"""

from __future__ import annotations

import base64
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import attrs
from thespian.actors import (
    ActorExitRequest,
    ChildActorExited,
    PoisonMessage,
    WakeupMessage,
)

from sessionward import clock
from sessionward import entries as E
from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import (
    AbortTurn,
    ActivateOwner,
    CancelTurn,
    CommandResult,
    ErrorReply,
    KeysChanged,
    NudgeTurn,
    OutcomeMessage,
    OwnerActivated,
    OwnerActivationFailed,
    OwnerFenced,
    OwnerIdle,
    OwnerPassivated,
    OwnerState,
    OwnerWorkerStarted,
    PassivateOwner,
    PassivationRefused,
    PingStream,
    QueryOwnerState,
    QueuedTurn,
    RunTurn,
    StartWorker,
    SteerStream,
    StopStream,
    StreamBatch,
    StreamDelta,
    SubmitTurn,
    TurnAccepted,
    TurnRecord,
    WorkerReady,
)
from sessionward.actors.placement import next_epoch
from sessionward.errors import BadInputError, FencedError, SessionOwnedElsewhereError, TranscriptMissingError
from sessionward.inbox import Inbox, InboxTurn
from sessionward.lanes import queue_policy as qp
from sessionward.logs import ActorLogger
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.providers.base import (
    MessageEnd,
    ProviderFailure,
    ProviderRequest,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    build_provider,
)
from sessionward.recovery.replay import finished_turns, plan_replay
from sessionward.transcript import Durability, TranscriptFile
from sessionward.transcript_format import build_context
from sessionward.validation import validate_text

log = ActorLogger("sessionward.owner")  # resolved per call: see sessionward.logs

HISTORY_SIZE = 20
"""How many finished turns an owner remembers for ``sessionward session KEY``."""


@attrs.define
class _Ticket:
    """What the owner keeps per accepted turn until its final outcome. Mutable, private."""

    turn_id: str
    lane: str
    text: str
    mode: str
    accepted_time: float
    reply_to: Any
    request_id: str
    want_deltas: bool
    idempotency_key: str | None
    riders: list[str] = attrs.Factory(list)
    """Turns merged into this one: they get this turn's final outcome too."""
    replayed: bool = False


@attrs.define
class _Current:
    """The running turn. Mutable, private."""

    ticket: _Ticket
    started_time: float
    last_progress_time: float
    content: list[dict] = attrs.Factory(list)
    """The open assistant message's content blocks."""
    reply_parts: list[str] = attrs.Factory(list)
    stream_seconds: float = 0.0


class SessionOwner(GuardedActor):
    guard_log = log

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict, requirements: dict) -> bool:
        """Thespian asks this where to create an owner: on the member the Directory chose."""
        wanted = (requirements or {}).get("sessionward.member")
        return wanted is None or capabilities.get("sessionward.member", "local") == wanted

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._member = "local"
        self._epoch = 0
        self._context: list[dict] | None = None
        self._context_upto = 0
        self._sent_context = 0
        """How many context messages the current worker holds (0 for a new worker)."""
        self._sent_tail: dict | None = None
        self._file: TranscriptFile | None = None
        self._inbox: Inbox | None = None
        self._directory = None
        self._worker = None
        self._config = None
        self._provider = None
        self._can_steer = False
        self._identity = (E.UNKNOWN, E.UNKNOWN, E.UNKNOWN)
        """``(api, provider, model)`` for messages no ``MessageEnd`` describes."""
        self._session_key = ""
        self._session_id = ""
        self._keys: tuple[str, ...] = ()
        self._path = ""
        self._queue = qp.SessionQueue()
        self._tickets: dict[str, _Ticket] = {}
        self._current: _Current | None = None
        self._idempotency: dict[str, str] = {}
        self._finished: dict[str, TurnOutcome] = {}
        self._history: list[TurnRecord] = []
        self._state = "starting"
        self._idle_since = clock.now()
        self._counts = {"completed": 0, "failed": 0, "heartbeat_skipped": 0}

    # -- dispatch --------------------------------------------------------------------------

    def _divert(self, message, sender) -> bool:
        if self._state in ("fenced", "stopping") and isinstance(message, _ROUTED):
            # This owner no longer serves its file; the Directory has been told and
            # routes the message to the file's next owner.
            self.send(self._directory, message)
            return True
        return False

    def _log_session(self) -> str | None:
        return self._session_key or self._path or None

    def _log_turn(self) -> str | None:
        return self._current.ticket.turn_id if self._current is not None else None

    # -- activation ------------------------------------------------------------------------

    def receiveMsg_ActivateOwner(self, msg: ActivateOwner, sender) -> None:
        self._directory = sender
        self._config = msg.config
        self._provider = msg.provider
        try:  # a ProviderSpec says nothing about steering until it is built
            built = build_provider(msg.provider)
            self._can_steer = bool(getattr(built, "supports_steering", False))
            self._identity = E.provider_identity(built)
        except Exception:
            self._can_steer = False
        self._session_key, self._session_id, self._path = msg.session_key, msg.session_id, msg.path
        self._keys = msg.keys or (msg.session_key,)
        self._member = msg.member
        now = clock.now()
        path = Path(msg.path)
        side = Path(msg.sidecar_dir) if msg.sidecar_dir else path.parent
        try:
            self._file, report = TranscriptFile.open(
                path,
                header=E.header(msg.session_id, cwd=msg.config.cwd, now=now),
                durability=msg.config.durability,
                create=msg.create,
                sidecar_dir=side,
            )
        except SessionOwnedElsewhereError as exc:
            self._fail_activation(sender, "owned_elsewhere", str(exc))
            return
        except TranscriptMissingError as exc:  # before BadInputError, its base
            self._fail_activation(sender, "transcript_missing", str(exc))
            return
        except BadInputError as exc:
            self._fail_activation(sender, "corrupt_transcript", str(exc))
            return
        except OSError as exc:
            self._fail_activation(sender, "io_error", str(exc))
            return
        self._inbox = Inbox(
            side / (path.name + ".inbox"),
            fsync=msg.config.durability is not Durability.NEVER,
        )
        # Each activation takes the next epoch of its file and writes it on every entry, so
        # a late write by a superseded owner is visible from the file alone.
        self._epoch = next_epoch(self._file.entries)
        replayed = self._replay(now, fail_as=msg.fail_unfinished_as)
        self._state = "idle"
        self.send(sender, OwnerActivated(msg.path, os.getpid(), report, replayed))
        self._ensure_worker()
        self._maybe_start_next()
        self._arm_idle_timer()

    def _fail_activation(self, directory, kind: str, message: str) -> None:
        self._state = "stopping"
        self.send(directory, OwnerActivationFailed(self._path, kind, message))
        self.send(self.myAddress, ActorExitRequest())

    def _replay(self, now: float, fail_as: str | None = None) -> tuple[str, ...]:
        """Re-queue (or fail) turns acknowledged by a previous owner that never finished.

        ``fail_as`` (after an admin unparks the session) fails every one of them with that
        reason: their submitters were told so when the session was parked.
        """
        for done in finished_turns(self._file.entries):
            if done.idempotency_key:
                self._idempotency[done.idempotency_key] = done.turn_id
                self._finished[done.turn_id] = TurnOutcome(
                    done.turn_id, self._session_key, _status(done.status),
                    reply=done.reply, reason=_reason(done.reason), lane=done.lane)
        accepted, finished = self._inbox.load()
        plan = plan_replay(
            accepted,
            finished,
            self._file.entries,
            policy="fail" if fail_as else self._config.replay_policy,
        )
        fail_reason = OutcomeReason(fail_as) if fail_as else OutcomeReason.OWNER_LOST
        for done in plan.already_completed:
            # The reply is in the file but the turn_end is not: close it, never re-run it.
            turn = done.turn
            self._append([self._turn_end_entry(turn.turn_id, "completed", None, now, turn.idempotency_key)])
            outcome = TurnOutcome(turn.turn_id, self._session_key, TurnStatus.COMPLETED, reply=done.reply,
                                  lane=turn.lane, request_id=done.request_id, finished_time=now)
            self._remember_replayed(turn, outcome)
            if done.reply_to is not None:
                self.send(done.reply_to, OutcomeMessage(outcome))
        pending: list[InboxTurn] = []
        started = {e.get("turnId") for e in self._file.entries if e.get("turnId")}
        for item in plan.requeue:
            turn = attrs.evolve(item.turn, attempts=item.turn.attempts + 1)
            pending.append(turn)
            ticket = _Ticket(
                turn.turn_id, turn.lane, turn.text, turn.mode, turn.accepted_time,
                reply_to=item.reply_to, request_id=item.request_id, want_deltas=False,
                idempotency_key=turn.idempotency_key, replayed=True,
            )
            self._tickets[turn.turn_id] = ticket
            if turn.idempotency_key:
                self._idempotency[turn.idempotency_key] = turn.turn_id
            self._queue = qp.restore(
                self._queue,
                qp.PendingTurn(turn.turn_id, turn.lane, turn.text, qp.QueueMode.FOLLOWUP, turn.accepted_time),
                started=turn.turn_id in started)
        for item in plan.fail:
            self._append([self._turn_end_entry(item.turn.turn_id, "failed", fail_reason, now,
                                               item.turn.idempotency_key)])
            detail = ("the session was parked before this turn finished" if fail_as else
                      "the owner died before this turn finished; it was not run again")
            outcome = TurnOutcome(item.turn.turn_id, self._session_key, TurnStatus.FAILED, reason=fail_reason,
                                  detail=detail, lane=item.turn.lane, request_id=item.request_id,
                                  finished_time=now)
            self._remember_replayed(item.turn, outcome)
            if item.reply_to is not None:
                self.send(item.reply_to, OutcomeMessage(outcome))
        self._file.sync()
        if accepted:  # compact the inbox to what is still pending (nothing to do when empty)
            self._inbox.rewrite([_with_reply(t, self._tickets[t.turn_id]) for t in pending])
        return tuple(t.turn_id for t in pending)

    def _remember_replayed(self, turn: InboxTurn, outcome: TurnOutcome) -> None:
        """A turn ended during replay answers its retries (and the Directory's re-forward of
        its submit) from memory: without this, a re-forwarded submit of a turn just failed
        as ``owner_lost`` was accepted as a new turn and ran its provider a third time."""
        if turn.idempotency_key:
            self._idempotency[turn.idempotency_key] = turn.turn_id
            self._finished[turn.turn_id] = outcome

    # -- submit ------------------------------------------------------------------------------

    def receiveMsg_SubmitTurn(self, msg: SubmitTurn, sender) -> None:
        reply_to = msg.reply_to or sender
        now = clock.now()
        if self._state == "draining":
            self._refuse(msg, reply_to, OutcomeReason.SHUT_DOWN, "the runtime is shutting down")
            return
        try:
            validate_text(msg.text, self._config.max_message_bytes)
        except BadInputError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_message", str(exc)))
            return
        if msg.idempotency_key and msg.idempotency_key in self._idempotency:
            self._answer_duplicate(msg, reply_to)
            return
        mode = qp.QueueMode(msg.mode) if msg.mode else self._config.queue.default_mode
        turn_id = uuid.uuid4().hex[:16]
        running = qp.RunningTurn(self._current.ticket.turn_id, self._current.ticket.lane) if self._current else None
        admission = qp.admit(
            self._queue,
            qp.PendingTurn(turn_id, msg.lane, msg.text, mode, now),
            running=running, can_steer=self._can_steer, policy=self._config.queue, now=now,
        )
        decision = admission.decision
        if isinstance(decision, qp.Refused):
            if decision.reason == "heartbeat_skipped":
                self._counts["heartbeat_skipped"] += 1
                self._refuse(msg, reply_to, OutcomeReason.HEARTBEAT_SKIPPED, "session busy", TurnStatus.CANCELLED)
            else:
                self._refuse(msg, reply_to, OutcomeReason.BUSY, f"queue is full ({self._config.queue.max_queued})")
            return
        ticket = _Ticket(turn_id, msg.lane, msg.text, mode.value, now, reply_to, msg.request_id,
                         msg.want_deltas, msg.idempotency_key)
        # Invariant: the turn is in the inbox (fsynced unless durability is 'never')
        # before anyone hears it was accepted.
        self._inbox.record_accepted(_with_reply(
            InboxTurn(turn_id, msg.lane, msg.text, mode.value, now, msg.idempotency_key), ticket))
        self._tickets[turn_id] = ticket
        if msg.idempotency_key:
            self._idempotency[msg.idempotency_key] = turn_id
        self._queue = admission.queue
        label, position, applied = _describe(decision, mode)
        ticket.mode = applied
        self.send(reply_to, TurnAccepted(msg.request_id, self._session_key, turn_id, label, position, applied))
        if isinstance(decision, qp.Steered):
            self._steer(ticket, decision.into_turn_id, now)
        elif isinstance(decision, qp.Interrupting):
            self._abort_current(OutcomeReason.INTERRUPTED, f"interrupted by turn {turn_id}", now)
        self._maybe_start_next()
        self._arm_collect_timer()

    def _refuse(self, msg: SubmitTurn, reply_to, reason: OutcomeReason, detail: str,
                status: TurnStatus = TurnStatus.FAILED) -> None:
        self.send(reply_to, OutcomeMessage(TurnOutcome(
            "", self._session_key, status, reason=reason, detail=detail, lane=msg.lane,
            request_id=msg.request_id, finished_time=clock.now(),
        )))

    def _answer_duplicate(self, msg: SubmitTurn, reply_to) -> None:
        turn_id = self._idempotency[msg.idempotency_key]
        ticket = self._tickets.get(turn_id)
        if ticket is not None and ticket.request_id == msg.request_id:
            return  # the Directory re-forwarded a submit this owner already holds
        self.send(reply_to, TurnAccepted(msg.request_id, self._session_key, turn_id, "duplicate"))
        done = self._finished.get(turn_id)
        if done is not None:
            self.send(reply_to, OutcomeMessage(attrs.evolve(done, request_id=msg.request_id)))
        elif turn_id in self._tickets:
            # The retry's client waits for the same turn: send the outcome there too.
            self._tickets[turn_id].riders.append(f"dup:{msg.request_id}")
            self._tickets[f"dup:{msg.request_id}"] = _Ticket(
                turn_id, msg.lane, msg.text, "duplicate", clock.now(), reply_to, msg.request_id, False, None)

    def _steer(self, ticket: _Ticket, into_turn_id: str, now: float) -> None:
        self.send(self._worker, SteerStream(into_turn_id, ticket.text))
        self._tickets[into_turn_id].riders.append(ticket.turn_id)
        self._send_outcome(ticket, TurnOutcome(
            ticket.turn_id, self._session_key, TurnStatus.MERGED, merged_into=into_turn_id,
            lane=ticket.lane, mode_applied="steer", request_id=ticket.request_id,
        ))

    # -- running turns ---------------------------------------------------------------------------

    def _maybe_start_next(self) -> None:
        if self._current is not None or self._state != "idle":
            return
        now = clock.now()
        taken = qp.take_next(self._queue, policy=self._config.queue, now=now)
        self._queue = taken.queue
        for merged in taken.merged:
            ticket = self._tickets.get(merged.turn_id)
            if ticket is None:
                continue
            self._tickets[merged.into_turn_id].riders.append(merged.turn_id)
            self._send_outcome(ticket, TurnOutcome(
                ticket.turn_id, self._session_key, TurnStatus.MERGED, merged_into=merged.into_turn_id,
                lane=ticket.lane, mode_applied="collect", request_id=ticket.request_id,
            ))
        for dropped in taken.dropped:
            ticket = self._tickets.get(dropped.turn_id)
            if ticket is not None:
                self._finish_ticket(ticket, TurnStatus.CANCELLED, OutcomeReason.DROPPED,
                                    "dropped by the collect cap", now, write_end=True)
        if taken.turn is None:
            self._arm_collect_timer()
            return
        ticket = self._tickets[taken.turn.turn_id]
        ticket.text = taken.turn.text  # a collect carrier's text holds its riders' texts
        self._start(ticket, now)

    def _start(self, ticket: _Ticket, now: float) -> None:
        self._current = _Current(ticket, now, now)
        self._state = "running"
        # The context is what came before this turn. A replayed turn's user entry is
        # already in the file: it is not written again, and not part of its own context.
        entries = self._file.entries
        first = None
        if ticket.replayed:
            first = next((i for i, e in enumerate(entries) if e.get("turnId") == ticket.turn_id), None)
        if first is None:
            context = self._file_context()
            entry = E.user_entry(ticket.text, turn_id=ticket.turn_id, lane=ticket.lane,
                                 ids=self._file.ids, parent_id=self._file.leaf_id, now=now)
            if not self._append([entry]):
                return
        else:
            context = build_context(entries[:first])
        request = ProviderRequest(self._session_key, ticket.turn_id, ticket.text, (), ticket.lane)
        self._ensure_worker()
        # The worker keeps the context between turns; it gets only what it has not seen.
        # A context that is not an extension of what was sent (a replayed turn's) goes whole.
        # The check is by identity of the last message sent: contexts share their message
        # objects, so the same object at the same place means the same prefix.
        sent = self._sent_context
        if sent > len(context) or (sent and context[sent - 1] is not self._sent_tail):
            sent = 0
        self.send(self._worker, RunTurn(ticket.turn_id, request, sent, context[sent:]))
        self._sent_context, self._sent_tail = len(context), context[-1] if context else None

    def _ensure_worker(self) -> None:
        """Start a worker if there is none. Done at activation too, so that a process start
        is not part of the first turn (nor mistaken by recovery for a stalled stream)."""
        if self._worker is not None:
            return
        from sessionward.actors.worker import TurnWorker

        self._worker = self.createActor(TurnWorker)
        self._sent_context, self._sent_tail = 0, None
        self.send(self._worker, StartWorker(self._provider, self._config.stream_batch_window,
                                            self._config.stream_batch_max,
                                            ((self._file.fileno(), str(self._file.path)),
                                             (self._inbox.fileno(), str(self._inbox.path))),
                                            os.getpid()))

    def _file_context(self) -> tuple[dict, ...]:
        """``build_context(self._file.entries)``, kept up to date as this owner appends.

        Built once per activation; after that every entry is appended by this owner as the
        child of the previous leaf and is a plain message or a ``turn_end`` (no compaction,
        no branch), so the context only ever grows by the appended messages. Rebuilding it
        per turn cost O(file) and made a 1,000-turn session's turns 3x slower.
        """
        entries = self._file.entries
        if self._context is None:
            self._context = list(build_context(entries))
        else:
            for entry in entries[self._context_upto:]:
                message = entry.get("message") if entry.get("type") == "message" else None
                if isinstance(message, dict):
                    self._context.append(message)
        self._context_upto = len(entries)
        return tuple(self._context)

    def receiveMsg_StreamBatch(self, msg: StreamBatch, sender) -> None:
        current = self._current
        if current is None or current.ticket.turn_id != msg.turn_id:
            return  # a late batch from an aborted turn: ignored by design
        now = clock.now()
        current.last_progress_time = now
        current.stream_seconds = msg.stream_seconds
        pending: list[dict] = []
        failure: ProviderFailure | None = None
        delta_text: list[str] = []
        for event in msg.events:
            if isinstance(event, TextDelta):
                _add_text(current.content, "text", event.text)
                current.reply_parts.append(event.text)
                delta_text.append(event.text)
            elif isinstance(event, ThinkingDelta):
                _add_text(current.content, "thinking", event.text)
            elif isinstance(event, ToolCall):
                current.content.append({"type": "toolCall", "id": event.call_id, "name": event.name,
                                        "arguments": event.arguments})
            elif isinstance(event, MessageEnd):
                pending.append(self._close_message(current, event.stop_reason, now, pending, end=event))
            elif isinstance(event, ToolResult):
                if current.content:
                    pending.append(self._close_message(current, "toolUse", now, pending))
                pending.append(E.tool_result_entry(
                    call_id=event.call_id, name=event.name, content=event.content, is_error=event.is_error,
                    turn_id=current.ticket.turn_id, ids=self._ids_with(pending),
                    parent_id=self._leaf_with(pending), now=now))
            elif isinstance(event, ProviderFailure):
                failure = event
                break
        if delta_text and current.ticket.want_deltas:
            self.send(current.ticket.reply_to, StreamDelta(current.ticket.request_id, current.ticket.turn_id,
                                                           "".join(delta_text)))
        if failure is not None:
            if current.content or not pending:
                pending.append(self._close_message(current, "error", now, pending, failure.message))
            self._end_current(pending, TurnStatus.FAILED, OutcomeReason.PROVIDER_ERROR, now,
                              detail=f"{failure.provider or 'provider'}: {failure.kind}: {failure.message}",
                              provider_error=str(failure.kind))
        elif msg.done:
            if current.content:
                pending.append(self._close_message(current, "stop", now, pending))
            self._end_current(pending, TurnStatus.COMPLETED, None, now)
        elif pending:
            self._append(pending)

    def _close_message(self, current: _Current, stop_reason: str, now: float, pending: list[dict],
                       error: str | None = None, end: MessageEnd | None = None) -> dict:
        api, provider, model = self._identity
        if end is not None:  # the stream's own account wins (a failover chain's answering member)
            api, provider, model = end.api or api, end.provider or provider, end.model or model
        entry = E.assistant_entry(
            current.content, stop_reason=stop_reason, provider=provider, api=api, model=model,
            usage=end.usage if end is not None else None,
            turn_id=current.ticket.turn_id, ids=self._ids_with(pending), parent_id=self._leaf_with(pending),
            now=now, error_message=error)
        current.content = []
        return entry

    def _ids_with(self, pending: list[dict]):
        return _Ids(self._file.ids, pending)

    def _leaf_with(self, pending: list[dict]) -> str | None:
        return pending[-1]["id"] if pending else self._file.leaf_id

    def _end_current(self, pending: list[dict], status: TurnStatus, reason: OutcomeReason | None, now: float,
                     detail: str = "", provider_error: str | None = None) -> None:
        current = self._current
        ticket = current.ticket
        pending.append(self._turn_end_entry(ticket.turn_id, status.value, reason, now, ticket.idempotency_key,
                                            pending))
        if not self._append(pending):
            return  # fenced: _fence delivered every outcome
        self._file.sync()
        self._current = None
        self._state = "idle"
        self._idle_since = now
        outcome = TurnOutcome(
            ticket.turn_id, self._session_key, status, reply="".join(current.reply_parts),
            reason=reason, detail=detail, provider_error=provider_error, lane=ticket.lane,
            mode_applied=ticket.mode, request_id=ticket.request_id, accepted_time=ticket.accepted_time,
            started_time=current.started_time, finished_time=now, stream_seconds=current.stream_seconds,
        )
        self._deliver_final(ticket, outcome)
        self._maybe_start_next()
        self._arm_idle_timer()

    def _turn_end_entry(self, turn_id: str, status: str, reason, now: float, idem: str | None,
                        pending: list[dict] | None = None) -> dict:
        pending = pending or []
        return E.turn_end_entry(turn_id=turn_id, status=status, reason=None if reason is None else str(reason),
                                ids=self._ids_with(pending), parent_id=self._leaf_with(pending), now=now,
                                idempotency_key=idem)

    def _deliver_final(self, ticket: _Ticket, outcome: TurnOutcome) -> None:
        """Send the final outcome to the turn and every turn merged into it; forget them."""
        self._inbox.record_finished(ticket.turn_id, outcome.status.value)
        self._remember(ticket, outcome)
        self._send_outcome(ticket, outcome)
        self._deliver_to_riders(ticket, outcome)
        self._tickets.pop(ticket.turn_id, None)

    def _deliver_to_riders(self, ticket: _Ticket, outcome: TurnOutcome) -> None:
        for rider_id in ticket.riders:
            rider = self._tickets.pop(rider_id, None)
            if rider is None:
                continue
            if not rider_id.startswith("dup:"):
                self._inbox.record_finished(rider_id, outcome.status.value)
                # A later retry of a merged or steered submit finds its turn's outcome.
                self._finished[rider_id] = outcome
            self._send_outcome(rider, attrs.evolve(outcome, request_id=rider.request_id, lane=rider.lane))
            # A retry that arrived while this rider waited rides on it, not on the carrier.
            self._deliver_to_riders(rider, outcome)

    def _remember(self, ticket: _Ticket, outcome: TurnOutcome) -> None:
        self._finished[ticket.turn_id] = outcome
        while len(self._finished) > 1000:  # bounded: idempotent retries are for recent turns
            self._finished.pop(next(iter(self._finished)))
        key = "completed" if outcome.status is TurnStatus.COMPLETED else "failed"
        self._counts[key] += 1
        self._history.append(TurnRecord(ticket.turn_id, ticket.lane, outcome.status.value,
                                        None if outcome.reason is None else outcome.reason.value,
                                        outcome.finished_time or clock.now()))
        del self._history[:-HISTORY_SIZE]

    def _send_outcome(self, ticket: _Ticket, outcome: TurnOutcome) -> None:
        if ticket.reply_to is not None:
            self.send(ticket.reply_to, OutcomeMessage(outcome))

    def _finish_ticket(self, ticket: _Ticket, status: TurnStatus, reason: OutcomeReason, detail: str,
                       now: float, write_end: bool) -> None:
        """Give a turn that never ran (or whose file can no longer be written) its outcome."""
        if write_end and self._state not in ("fenced",) and not self._append([self._turn_end_entry(
                ticket.turn_id, status.value, reason, now, ticket.idempotency_key)]):
            return  # an outside write: _fence has given this turn (and every other) its outcome
        self._deliver_final(ticket, TurnOutcome(
            ticket.turn_id, self._session_key, status, reason=reason, detail=detail, lane=ticket.lane,
            mode_applied=ticket.mode, request_id=ticket.request_id, accepted_time=ticket.accepted_time,
            finished_time=now))

    # -- abort, cancel, nudge --------------------------------------------------------------------

    def receiveMsg_AbortTurn(self, msg: AbortTurn, sender) -> None:
        reply_to = msg.reply_to or sender
        current = self._current
        if current is None:
            self.send(reply_to, CommandResult(msg.request_id, False, "no turn is running", msg.turn_id))
            return
        if msg.turn_id is not None and msg.turn_id != current.ticket.turn_id:
            # A stale abort (recovery saw an older turn) must never hit the newer turn.
            self.send(reply_to, CommandResult(
                msg.request_id, False, f"stale: turn {msg.turn_id} is not running", msg.turn_id))
            return
        turn_id = current.ticket.turn_id
        try:
            reason = OutcomeReason(msg.reason)
        except ValueError:
            reason = OutcomeReason.ABORTED
        self._abort_current(reason, f"{reason.value} on request", clock.now())
        self.send(reply_to, CommandResult(msg.request_id, True, f"turn {turn_id} aborted", turn_id))
        self._maybe_start_next()

    def _abort_current(self, reason: OutcomeReason, detail: str, now: float) -> None:
        current = self._current
        if current is None:
            return
        self._retire_worker(current.ticket.turn_id)
        pending: list[dict] = []
        if current.content:
            # A partial assistant message is closed, never left dangling.
            pending.append(self._close_message(current, "aborted", now, pending))
        status = TurnStatus.FAILED if reason in (OutcomeReason.STALLED, OutcomeReason.LEASE_LOST) \
            else TurnStatus.CANCELLED
        self._end_current(pending, status, reason, now, detail=detail)

    def _retire_worker(self, turn_id: str) -> None:
        """Stop the stream and replace the worker: a hung provider thread dies with its process."""
        if self._worker is not None:
            self.send(self._worker, StopStream(turn_id))
            self.send(self._worker, ActorExitRequest())
            self._worker = None

    def receiveMsg_CancelTurn(self, msg: CancelTurn, sender) -> None:
        reply_to = msg.reply_to or sender
        self._queue, found = qp.cancel(self._queue, msg.turn_id)
        ticket = self._tickets.get(msg.turn_id)
        if not found or ticket is None:
            self.send(reply_to, CommandResult(msg.request_id, False, f"turn {msg.turn_id} is not queued", msg.turn_id))
            return
        self._finish_ticket(ticket, TurnStatus.CANCELLED, OutcomeReason.CANCELLED, "cancelled on request",
                            clock.now(), write_end=True)
        self.send(reply_to, CommandResult(msg.request_id, True, f"turn {msg.turn_id} cancelled", msg.turn_id))

    def receiveMsg_NudgeTurn(self, msg: NudgeTurn, sender) -> None:
        reply_to = msg.reply_to or sender
        ok = self._current is not None and self._current.ticket.turn_id == msg.turn_id
        if ok:
            self.send(self._worker, PingStream(msg.turn_id))
        self.send(reply_to, CommandResult(msg.request_id, ok, "nudged" if ok else "stale", msg.turn_id))

    # -- state -----------------------------------------------------------------------------------

    def receiveMsg_QueryOwnerState(self, msg: QueryOwnerState, sender) -> None:
        self.send(msg.reply_to or sender, self.snapshot(msg.request_id, msg.include_history))

    def snapshot(self, request_id: str = "", include_history: bool = False) -> OwnerState:
        current = self._current
        queued = qp.snapshot(self._queue)
        return OwnerState(
            session_key=self._session_key, session_id=self._session_id, file=self._path, state=self._state,
            turn_id=current.ticket.turn_id if current else None,
            lane=current.ticket.lane if current else None,
            turn_started_time=current.started_time if current else None,
            last_progress_time=current.last_progress_time if current else None,
            queue_depth=qp.depth(self._queue), queued_lanes=tuple(t.lane for t in queued),
            pid=os.getpid(), keys=self._keys,
            turns_completed=self._counts["completed"], turns_failed=self._counts["failed"],
            heartbeats_skipped=self._counts["heartbeat_skipped"],
            history=tuple(self._history) if include_history else (),
            request_id=request_id, snapshot_time=clock.now(), member=self._member, owner_epoch=self._epoch,
            queued_turns=tuple(QueuedTurn(t.turn_id, t.lane, t.mode.value, t.accepted_time) for t in queued),
        )

    def receiveMsg_WorkerReady(self, msg: WorkerReady, sender) -> None:
        if self._worker is not None and sender == self._worker and self._directory is not None:
            self.send(self._directory, OwnerWorkerStarted(self._path, msg.pid))
            if self._current is not None:
                # A worker (re)started under a waiting turn: its start-up was not a stall.
                self._current.last_progress_time = clock.now()

    def receiveMsg_KeysChanged(self, msg: KeysChanged, sender) -> None:
        self._keys = msg.keys

    # -- fence -----------------------------------------------------------------------------------

    def _append(self, entries: list[dict]) -> bool:
        """Append, or on an outside write stop the session as ``fenced``. True if written."""
        if self._state == "fenced":
            return False
        for entry in entries:
            entry["ownerEpoch"] = self._epoch
        try:
            self._file.append(entries)
            return True
        except FencedError as exc:
            self._fence(str(exc))
            return False

    def _fence(self, detail: str) -> None:
        """Stop this session: every accepted turn fails with ``fenced``; the file is released."""
        log.error("session %s fenced: %s", self._session_key, detail)
        self._state = "fenced"
        now = clock.now()
        if self._current is not None:
            self._retire_worker(self._current.ticket.turn_id)
        for ticket in self._ordered_tickets():
            self._finish_ticket(ticket, TurnStatus.FAILED, OutcomeReason.FENCED, detail, now, write_end=False)
        self._current = None
        self._queue, _ = qp.drain(self._queue)
        self._close_files()
        # The Directory ends this actor once it knows (see ``Directory._retire``): exiting
        # here could drop a message it forwarded before it heard.
        self.send(self._directory, OwnerFenced(self._path, detail))

    def _ordered_tickets(self) -> list[_Ticket]:
        """Turns that still owe an outcome, the running one first. Riders (merged turns and
        retries waiting on a turn, keyed ``dup:<request id>``) are left out: they get
        their carrier's outcome, and a retry's ticket names the same turn, so finishing it
        on its own wrote that turn's ``turn_end`` twice."""
        first = [self._current.ticket] if self._current is not None else []
        rest = [t for key, t in self._tickets.items() if not key.startswith("dup:")
                and (not first or t is not first[0])]
        return first + [t for t in rest if not any(t.turn_id in other.riders for other in rest + first)]

    # -- idle, collect, passivation ------------------------------------------------------------

    def _arm_idle_timer(self) -> None:
        if self._current is None and qp.depth(self._queue) == 0:
            self.wakeupAfter(self._config.idle_timeout, payload="idle")

    def _arm_collect_timer(self) -> None:
        wake = qp.next_wakeup(self._queue)
        if wake is not None:
            self.wakeupAfter(max(0.0, wake - clock.now()) + 0.001, payload="collect")

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        if msg.payload == "collect":
            self._maybe_start_next()
        elif msg.payload == "idle":
            idle = self._current is None and qp.depth(self._queue) == 0 and self._state == "idle"
            if idle and clock.now() - self._idle_since >= self._config.idle_timeout * 0.99:
                self.send(self._directory, OwnerIdle(self._path))

    def receiveMsg_PassivateOwner(self, msg: PassivateOwner, sender) -> None:
        if self._current is not None or qp.depth(self._queue) or self._state != "idle":
            self.send(sender, PassivationRefused(self._path))
            return
        self._state = "stopping"
        self._close_files()
        self.send(sender, OwnerPassivated(self._path))
        self.send(self.myAddress, ActorExitRequest())

    def receiveMsg_LeaseLost(self, msg, sender) -> None:
        """This member is cut off from the leader, which may give the file to another member:
        end the running turn (``lease_lost``, written while the lock is still ours), leave the
        queued ones in the inbox for the next owner to replay, release the file, and exit.
        See ``actors/lease_keeper.py``."""
        if self._state in ("stopping", "fenced") or self._file is None:
            return
        log.error("session %s: %s; ending its running turn and releasing the file", self._session_key,
                  msg.detail, extra={"session": self._session_key})
        self._queue, _ = qp.drain(self._queue)  # nothing may start after the abort below
        self._abort_current(OutcomeReason.LEASE_LOST, msg.detail, clock.now())
        if self._state != "fenced":
            self._state = "stopping"
            self._close_files()
            self.send(self.myAddress, ActorExitRequest())

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        # Nobody is left waiting: every accepted turn gets an outcome before the owner ends.
        if self._state not in ("stopping", "fenced") and self._file is not None:
            self._state = "draining"
            now = clock.now()
            if self._current is not None:
                self._retire_worker(self._current.ticket.turn_id)
            for ticket in self._ordered_tickets():
                if self._current is not None and ticket is self._current.ticket and self._current.content:
                    self._append([self._close_message(self._current, "aborted", now, [])])
                if self._state == "fenced":
                    break  # an append met an outside write: _fence gave every turn its outcome
                self._finish_ticket(ticket, TurnStatus.CANCELLED, OutcomeReason.SHUT_DOWN,
                                    "the runtime shut down", now, write_end=True)
            self._current = None
            self._queue, _ = qp.drain(self._queue)
        self._close_files()

    def _close_files(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._inbox is not None:
            self._inbox.close()
            self._inbox = None

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender) -> None:
        if self._worker is not None and msg.childAddress == self._worker:
            self._worker = None
            if self._current is not None:
                # The worker died under a running turn: fail it rather than wait forever.
                self._end_current([], TurnStatus.FAILED, OutcomeReason.PROVIDER_ERROR, clock.now(),
                                  detail="the turn worker exited", provider_error="connection")

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender) -> None:
        log.warning("owner %s could not deliver %s", self._path, type(msg.poisonMessage).__name__,
                    extra={"session": self._session_key})
        idle = self._current is None and not qp.depth(self._queue) and self._state == "idle"
        if isinstance(msg.poisonMessage, OwnerIdle) and idle:
            # Our Directory is gone (a convention's leader died): nobody will tell us to
            # passivate, and the Directory that replaces it must be able to take the file.
            self._state = "stopping"
            self._close_files()
            self.send(self.myAddress, ActorExitRequest())


_ROUTED = (SubmitTurn, AbortTurn, CancelTurn, NudgeTurn, QueryOwnerState)


class _Ids:
    """The file's entry ids plus those of entries about to be appended (for unique ids)."""

    __slots__ = ("_ids", "_pending")

    def __init__(self, ids: set[str], pending: list[dict]) -> None:
        self._ids, self._pending = ids, pending

    def __contains__(self, item: object) -> bool:
        return item in self._ids or any(e["id"] == item for e in self._pending)


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


def _add_text(content: list[dict], kind: str, text: str) -> None:
    if content and content[-1].get("type") == kind:
        content[-1][kind] += text
    else:
        content.append({"type": kind, kind: text})


def _describe(decision, mode: qp.QueueMode) -> tuple[str, int, str]:
    if isinstance(decision, qp.Queued):
        fell_back = getattr(decision, "fell_back_from", None)
        return "queued", decision.position, ("followup" if fell_back else mode.value)
    if isinstance(decision, qp.Collecting):
        return "collecting", 0, "collect"
    if isinstance(decision, qp.Steered):
        return "steered", 0, "steer"
    if isinstance(decision, qp.Interrupting):
        return "interrupting", 0, "interrupt"
    return type(decision).__name__.lower(), 0, mode.value


def _with_reply(turn: InboxTurn, ticket: _Ticket) -> InboxTurn:
    """The inbox keeps where the outcome goes, so a new owner can still deliver it."""
    try:
        blob = base64.b64encode(pickle.dumps((ticket.reply_to, ticket.request_id))).decode("ascii")
    except Exception:  # an address that does not pickle: the outcome stays queryable only
        blob = None
    return attrs.evolve(turn, reply=blob)
