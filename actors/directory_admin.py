"""The Directory's admin requests: commands on one session, and the fan-out that answers
``QuerySessions`` and ``QuerySystem``.

A mixin of ``Directory`` (``actors/directory.py``), which holds the state it reads and
the routing helpers it calls (``_resolve``, ``_record``, ``_activate``, ``_add_key``,
``_lost``). The handlers are in their own module so that each of the Directory's jobs
stays one readable file; the decisions are made in the pure modules (``owner_slots``,
``replacements``, ``gathers``, ``session_index``, ``recovery.liveness``).
"""

from __future__ import annotations

import os

from sessionward import clock
from sessionward.actors.directory_state import DirectoryState
from sessionward.actors.directory_timers import GatherDue
from sessionward.actors.gathers import GatherKind, package_versions, sessions_page
from sessionward.actors.messages import (
    BindSession,
    CommandResult,
    ErrorReply,
    OwnerState,
    QueryOwnerState,
    QuerySessions,
    QuerySystem,
    ReplaceOwner,
    StartNewTranscript,
    SystemStatus,
    UnparkSession,
)
from sessionward.actors.owner_slots import SlotState
from sessionward.errors import BadInputError
from sessionward.hosting.processes import running, sigkill
from sessionward.logs import ActorLogger
from sessionward.outcomes import OutcomeReason
from sessionward.recovery import liveness
from sessionward.storage.views import lane_figures

log = ActorLogger("sessionward.directory")  # resolved per call: see sessionward.logs


class AdminRequests(DirectoryState):
    """Handlers for admin commands and fan-out queries (mixed into ``Directory``)."""

    # -- admin commands -----------------------------------------------------------------------

    def receiveMsg_StartNewTranscript(self, msg: StartNewTranscript, sender) -> None:
        reply_to = msg.reply_to or sender
        record = self._index.get(msg.session_key) if self._index is not None else None
        if record is None:
            self.send(reply_to, CommandResult(msg.request_id, False, f"{msg.session_key} is not in the index"))
            return
        path = self._store.transcript_path(record.session_id)
        if path.exists() or str(path) in self._slots:
            self.send(reply_to, CommandResult(msg.request_id, False, f"{path} exists; nothing to start"))
            return
        self._index.allow_create(record.session_id)
        log.warning("admin: the next turn of %s starts a new transcript at %s", msg.session_key, path,
                    extra={"session": msg.session_key})
        self.send(reply_to, CommandResult(msg.request_id, True, f"the next turn of {msg.session_key} starts "
                                                                f"a new transcript at {path}"))

    def receiveMsg_BindSession(self, msg: BindSession, sender) -> None:
        reply_to = msg.reply_to or sender
        try:
            target = self._record(msg.target_key)
            from sessionward.storage.keys import validate_session_key

            validate_session_key(msg.session_key)
        except BadInputError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_session_key", str(exc)))
            return
        existing = self._index.get(msg.session_key)
        if existing is not None and existing.session_id != target.session_id:
            path = self._store.transcript_path(existing.session_id)
            if str(path) in self._slots or path.exists():
                self.send(reply_to, CommandResult(msg.request_id, False,
                                                  f"{msg.session_key} already has its own transcript"))
                return
        self._index.bind(msg.session_key, target.session_id, clock.now())
        slot = self._slots.get(str(self._store.transcript_path(target.session_id)))
        if slot is not None:
            self._add_key(slot, msg.session_key)
        self.send(reply_to, CommandResult(msg.request_id, True, f"{msg.session_key} -> {target.session_id}"))

    def receiveMsg_UnparkSession(self, msg: UnparkSession, sender) -> None:
        reply_to = msg.reply_to or sender
        resolved = self._resolve(msg, reply_to)
        if resolved is None:
            return
        record, path = resolved
        if not self._replacements.unpark(path):
            self.send(reply_to, CommandResult(msg.request_id, False, f"{msg.session_key} is not parked"))
            return
        log.warning("session %s unparked by an admin", msg.session_key, extra={"session": msg.session_key})
        # Parked after losses: the last lost owner's late outcomes are sent again too.
        self._activate(record, path, fail_unfinished_as=OutcomeReason.PARKED.value, after_loss=True)
        self.send(reply_to, CommandResult(msg.request_id, True, f"{msg.session_key} unparked"))

    def receiveMsg_ReplaceOwner(self, msg: ReplaceOwner, sender) -> None:
        reply_to = msg.reply_to or sender
        resolved = self._resolve(msg, reply_to)
        if resolved is None:
            return
        _record, path = resolved
        slot = self._slots.get(path)
        refusal = "no live owner" if slot is None else slot.why_not_ended(os.getpid(), self._members.own)
        if refusal is not None:
            self.send(reply_to, CommandResult(msg.request_id, False, refusal))
            return
        # Recovery's view is checked against the Directory's own: dead is acted on at once,
        # an activating or answering owner is left alone (see ``liveness.judge``).
        facts = liveness.OwnerFacts(slot.state, running(slot.pid), slot.heard_time)
        verdict, why = liveness.judge(facts, clock.now(), self._wedged_after)
        if verdict is liveness.Verdict.DEAD:
            self._lost(slot, why)
            self.send(reply_to, CommandResult(msg.request_id, True, f"owner pid {slot.pid} was dead: {why}"))
            return
        if verdict is not liveness.Verdict.WEDGED:
            log.info("not replacing the owner of %s (pid %s): %s", path, slot.pid, why)
            self.send(reply_to, CommandResult(msg.request_id, False, f"not wedged: {why}"))
            return
        # End the wedged process for real, so its file lock is released; ChildActorExited
        # then starts the replacement (or backs off, or parks the session).
        log.error("replacing wedged owner of %s (pid %s): %s", path, slot.pid, why)
        slot.state = SlotState.REPLACING
        sigkill(slot.worker_pid)
        sigkill(slot.pid)
        self.send(reply_to, CommandResult(msg.request_id, True, f"owner pid {slot.pid} ended: {why}"))

    # -- admin fan-out ------------------------------------------------------------------------

    def receiveMsg_QuerySessions(self, msg: QuerySessions, sender) -> None:
        self._gather(GatherKind.SESSIONS, msg, msg.reply_to or sender)

    def receiveMsg_QuerySystem(self, msg: QuerySystem, sender) -> None:
        self._gather(GatherKind.SYSTEM, msg, msg.reply_to or sender)

    def _gather(self, kind: GatherKind, request, reply_to) -> None:
        live = self._slots.live()
        gather_id = self._gathers.start(kind, request, reply_to, [s.path for s in live], clock.now())
        for slot in live:
            if not slot.query_outstanding:  # else it stays silent in this gather, unasked
                slot.query_outstanding = True
                self.send(slot.address, QueryOwnerState(gather_id, slot.session_key, reply_to=self.myAddress))
        if live:
            timeout = getattr(request, "timeout", None) or self._config.recovery.status_timeout
            self.wakeupAfter(timeout, payload=GatherDue(gather_id))
        else:
            self._finish_gather(gather_id)

    def receiveMsg_OwnerState(self, msg: OwnerState, sender) -> None:
        gather = self._gathers.get(msg.request_id)
        slot = self._slots.of(msg.file, sender)
        if slot is not None:
            slot.heard_time, slot.query_outstanding = clock.now(), False
            if gather is not None:
                slot.handled_before(gather.sent_time)
        for gather_id in self._gathers.answer(msg):
            self._finish_gather(gather_id)

    def _finish_gather(self, gather_id: str) -> None:
        gather = self._gathers.finish(gather_id)
        if gather is None:
            return
        if gather.kind == GatherKind.SESSIONS:
            silent = [self._slots.get(p).session_key for p in gather.waiting if p in self._slots]
            self.send(gather.reply_to, sessions_page(gather.request, gather.answers, silent))
            return
        running_by_lane, queued_by_lane = lane_figures(gather.answers)
        self.send(gather.reply_to, SystemStatus(
            gather.request.request_id, live_owners=len(self._slots), known_sessions=len(self._index),
            running_by_lane=running_by_lane, queued_by_lane=queued_by_lane, fenced_files=tuple(self._fenced),
            owners_replaced=self._replacements.count, pid=os.getpid(), versions=package_versions(),
            members=self._slots.loads(self._members.names()), leader=self._members.own,
            rehomed_sessions=self._members.rehomed, last_rehome_seconds=self._members.last_rehome,
            parked=self._replacements.parked(), factory_pid=self._factory_pid if self._factory is not None else 0))
