"""Directory: one per actor system. Maps a session file to its owner, creating owners on demand.

Owners are keyed by the transcript's canonical real path, not by session key, so two keys
that resolve to one file reach one owner. The Directory creates owners as its own
children, so it learns when one exits (``ChildActorExited``): an owner that passivated or
was fenced is forgotten; one that died unexpectedly is started again at once, and the new
owner replays the acknowledged turns its predecessor never finished.

While an owner is activating or passivating, messages for its file are *held* and
forwarded (or handed to the next owner) afterwards: none is lost in the window.

Messages are handled one at a time, so two first contacts for one file can never create two
owners: the second finds the first's slot.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import attrs
from thespian.actors import (
    ActorExitRequest,
    ActorSystemConventionUpdate,
    ChildActorExited,
    PoisonMessage,
    WakeupMessage,
)

from sessionward import clock
from sessionward.actors.base import GuardedActor
from sessionward.actors.member_watch import MemberGone, UnwatchMember, WatchMember
from sessionward.actors.messages import (
    ActivateOwner,
    BindSession,
    ClientRegistered,
    CommandResult,
    ConfigureDirectory,
    DirectoryReady,
    ErrorReply,
    ForStore,
    KeysChanged,
    OutcomeMessage,
    OwnerActivated,
    OwnerActivationFailed,
    OwnerFenced,
    OwnerIdle,
    OwnerPassivated,
    OwnerState,
    OwnerWorkerStarted,
    ParkedSession,
    PassivateOwner,
    PassivationRefused,
    QueryOwnerState,
    QuerySessions,
    QuerySystem,
    RegisterClient,
    ReplaceOwner,
    SessionsPage,
    StartNewTranscript,
    SubmitTurn,
    SystemStatus,
    UnparkSession,
)
from sessionward.actors.placement import Strategy, place
from sessionward.errors import BadInputError, InvalidSessionKeyError, PathEscapesStoreError
from sessionward.inbox import read_inbox
from sessionward.logs import ActorLogger
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.processes import running
from sessionward.recovery import liveness
from sessionward.recovery.replay import decode_reply
from sessionward.store import SessionRecord, SessionStore, missing_transcript
from sessionward.views import lane_figures, select_sessions

log = ActorLogger("sessionward.directory")  # resolved per call: see sessionward.logs

DIRECTORY_NAME = "sessionward.directory"
"""The Directory's global name in its actor system."""

@attrs.define
class _Slot:
    """One session file's owner, as the Directory tracks it. Mutable, private."""

    path: str
    session_key: str
    session_id: str
    keys: list[str]
    address: Any = None
    state: str = "activating"
    """``activating``, ``live``, ``passivating``, ``replacing``, ``backoff`` (waiting to
    start a replacement owner; ``address`` is None and everything routed is held)."""
    heard_time: float = 0.0
    """When the Directory last heard from this owner (any message; activation counts).
    The wedge rule reads it: see ``sessionward.recovery.liveness``."""
    query_outstanding: bool = False
    """A gather's state query to this owner is unanswered. No second one is sent until it
    is: a slow owner must not collect unread messages from the Directory (Thespian caps a
    process's unacknowledged sends; see ``sessionward.system.MAX_PENDING_TRANSMITS``)."""
    inflight: list[tuple[float, Any]] = attrs.Factory(list)
    """Queries and commands forwarded to this owner and not known to be handled. If the
    owner dies, they are forwarded again to its successor, so every routed request is
    answered (a second answer to an answered request is ignored by its caller)."""
    held: list[tuple[Any, Any]] = attrs.Factory(list)
    pid: int = 0
    worker_pid: int = 0
    expected_exit: bool = False
    member: str = "local"
    """The convention member hosting the owner."""
    rehome_started: float | None = None
    """Set while this slot replaces an owner lost with its member (for the re-homing time)."""
    lost_owner: Any = None
    """The owner this slot replaces after its member was declared gone (it may be alive)."""
    recent: list[tuple[float, Any]] = attrs.Factory(list)
    """Submits forwarded to this owner lately. If the owner dies, they are forwarded again
    to its successor, which drops those it already accepted (every submit carries an
    idempotency key): a submit still in a dead owner's mailbox is not lost."""


@attrs.define
class _Gather:
    """A fan-out of state queries to every live owner."""

    kind: str
    request: Any
    reply_to: Any
    waiting: set[str]
    answers: list[OwnerState] = attrs.Factory(list)
    sent_time: float = 0.0


class Directory(GuardedActor):
    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._store: SessionStore | None = None
        self._config = None
        self._provider = None
        self._index: dict[str, SessionRecord] = {}
        self._dirty: dict[str, SessionRecord] = {}
        self._keys_by_id: dict[str, list[str]] = {}
        """session id -> every key routed to its file."""
        self._slots: dict[str, _Slot] = {}
        self._gathers: dict[str, _Gather] = {}
        self._fenced: list[str] = []
        self._replaced = 0
        self._flush_armed = False
        self._may_create: set[str] = set()
        """Session ids whose transcript an owner may create: keys new in this run (until
        their first activation) and ids an admin allowed (``StartNewTranscript``). Any other
        id is named by the index, so its file must already exist: see ``missing_transcript``."""
        self._cluster = None
        self._watch = None
        self._members: dict[str, Any] = {"local": None}
        """Live members: name -> admin address (None for this system)."""
        self._rehomed = 0
        self._last_rehome: float | None = None
        self._waiting: dict[str, _Slot] = {}
        """Re-homed files whose lock was still held: retried every REHOME_RETRY_AFTER."""
        self._replacements: dict[str, liveness.ReplacementHistory] = {}
        """Per file: when its owners were replaced (backoff and parking)."""
        self._parked: dict[str, ParkedSession] = {}
        """Files that are not restarted until an admin unparks them."""
        self._policy = liveness.ReplacementPolicy()
        self._wedged_after = 60.0
        self._system_id: str | None = None

    # -- set-up -------------------------------------------------------------------------------

    def receiveMsg_ConfigureDirectory(self, msg: ConfigureDirectory, sender) -> None:
        self._store = SessionStore.from_locator(msg.store_root)
        self._config = msg.config
        self._provider = msg.provider
        self._policy = msg.config.recovery.replacement_policy()
        self._wedged_after = msg.config.recovery.thresholds().effective_wedged_after
        self._system_id = msg.system_id
        self._index = self._store.load_index()
        self._keys_by_id = {}
        for key, record in self._index.items():
            self._keys_by_id.setdefault(record.session_id, []).append(key)
        if msg.cluster is not None:
            # Lead a convention: owners are placed on members, and Thespian tells us when a
            # member joins or is declared gone (ActorSystemConventionUpdate).
            self._cluster = msg.cluster
            self._members = {msg.cluster.member: None}
            self.notifyOnSystemRegistrationChanges(True)
            from sessionward.actors.member_watch import MemberWatch

            self._watch = self.createActor(MemberWatch)
        self.send(sender, DirectoryReady(msg.request_id, os.getpid()))
        self.wakeupAfter(PROCESS_CHECK_EVERY, payload="processes")

    def receiveMsg_ForStore(self, msg: ForStore, sender) -> None:
        # One store, one actor system: a request meant for another store's system (a
        # client given the wrong port) is refused whole, never served here.
        if self._system_id is not None and msg.system_id != self._system_id:
            inner = msg.message
            where = self._store.locator if self._store is not None else "another store"
            self.send(getattr(inner, "reply_to", None) or sender,
                      ErrorReply(getattr(inner, "request_id", ""), "wrong_store",
                                 f"this actor system serves {where}, not the store this request is for"))
            return
        self.receiveMessage(msg.message, sender)

    def receiveMsg_RegisterClient(self, msg: RegisterClient, sender) -> None:
        self.send(sender, ClientRegistered(msg.request_id, sender))

    # -- routing ------------------------------------------------------------------------------

    def _route(self, msg, sender) -> None:
        if getattr(msg, "reply_to", None) is None and hasattr(msg, "reply_to"):
            msg = attrs.evolve(msg, reply_to=sender)
        reply_to = getattr(msg, "reply_to", sender)
        if self._store is None:
            self.send(reply_to, ErrorReply(msg.request_id, "unavailable", "the directory is not configured"))
            return
        try:
            record = self._record(msg.session_key)
            path = str(self._store.transcript_path(record.session_id))
        except InvalidSessionKeyError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_session_key", str(exc)))
            return
        except PathEscapesStoreError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "path_escapes_store", str(exc)))
            return
        parked = self._parked.get(path)
        if parked is not None:
            self._answer_parked(msg, reply_to, parked, record)
            return
        slot = self._slots.get(path) or self._waiting.get(path)
        if slot is None:
            if isinstance(msg, QueryOwnerState) and not msg.activate:
                self.send(reply_to, self._passive_state(record, path, msg.request_id))
                return
            if not isinstance(msg, SubmitTurn | QueryOwnerState):
                self.send(reply_to, CommandResult(msg.request_id, False, "no live owner: nothing is running",
                                                  getattr(msg, "turn_id", None)))
                return
            slot = self._activate(record, path)
        if msg.session_key not in slot.keys:
            slot.keys.append(msg.session_key)
            if slot.state == "live":
                self.send(slot.address, KeysChanged(path, tuple(slot.keys)))
        if isinstance(msg, SubmitTurn):
            if msg.idempotency_key is None:
                msg = attrs.evolve(msg, idempotency_key=msg.request_id)
            _remember_submit(slot, msg)
        else:
            _remember_request(slot, msg)
        if slot.state == "live":
            self._flush_index()  # a new key's entry is on disk before its first outcome
            self.send(slot.address, msg)
        else:
            slot.held.append((msg, sender))

    def _resolve(self, msg, reply_to) -> tuple[SessionRecord, str] | None:
        """The index record and transcript path of ``msg.session_key``, or None after
        answering ``reply_to`` with the typed error."""
        try:
            record = self._record(msg.session_key)
            return record, str(self._store.transcript_path(record.session_id))
        except BadInputError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_session_key", str(exc)))
            return None

    def _record(self, session_key: str) -> SessionRecord:
        record = self._index.get(session_key)
        if record is None:
            record = self._store.resolve(session_key, self._index, now=clock.now())
            self._index[session_key] = record
            self._keys_by_id.setdefault(record.session_id, []).append(session_key)
            self._dirty[session_key] = record
            self._may_create.add(record.session_id)
            self._arm_flush()
        return record

    def _passive_state(self, record: SessionRecord, path: str, request_id: str) -> OwnerState:
        # "missing": the index names this file and it is not there (``missing_transcript``).
        missing = record.session_id not in self._may_create and not Path(path).exists()
        return OwnerState(record.session_key, record.session_id, path, "missing" if missing else "passive",
                          None, None, None, None, 0, (), 0, keys=(record.session_key,), request_id=request_id,
                          snapshot_time=clock.now())

    def _activate(self, record: SessionRecord, path: str, held: list | None = None,
                  fail_unfinished_as: str | None = None) -> _Slot:
        from sessionward.actors.owner import SessionOwner

        # A reverse map, not a scan of the index: with 100,000 sessions the scan cost ~20 ms
        # of the Directory's time on every activation.
        keys = list(self._keys_by_id.get(record.session_id, ())) or [record.session_key]
        slot = _Slot(path, record.session_key, record.session_id, keys, held=held or [],
                     heard_time=clock.now())
        if self._cluster is None:
            slot.address = self.createActor(SessionOwner)
        else:
            slot.member = self._place(path, record.session_key)
            slot.address = self.createActor(SessionOwner,
                                            targetActorRequirements={"sessionward.member": slot.member})
        self._slots[path] = slot
        create = self._config.create_missing_transcripts or record.session_id in self._may_create
        self.send(slot.address, ActivateOwner(record.session_key, record.session_id, path, self._config,
                                              self._provider, tuple(keys), slot.member, create=create,
                                              sidecar_dir=_str_or_none(self._store.sidecar_dir),
                                              fail_unfinished_as=fail_unfinished_as))
        return slot

    def _place(self, path: str, session_key: str) -> str:
        loads = dict.fromkeys(self._members, 0)
        for slot in self._slots.values():
            if slot.member in loads:
                loads[slot.member] += 1
        return place(path, session_key, loads, strategy=Strategy(self._cluster.placement),
                     pins=dict(self._cluster.pins))

    def receiveMsg_SubmitTurn(self, msg, sender) -> None:
        self._route(msg, sender)

    receiveMsg_AbortTurn = receiveMsg_SubmitTurn
    receiveMsg_CancelTurn = receiveMsg_SubmitTurn
    receiveMsg_NudgeTurn = receiveMsg_SubmitTurn
    receiveMsg_QueryOwnerState = receiveMsg_SubmitTurn

    def _answer_parked(self, msg, reply_to, parked: ParkedSession, record: SessionRecord) -> None:
        """A parked session answers at once: submits fail ``parked``, queries say ``parked``."""
        detail = f"session parked: {parked.reason}; run `sessionward unpark {parked.session_key}`"
        if isinstance(msg, SubmitTurn):
            self.send(reply_to, OutcomeMessage(TurnOutcome(
                "", msg.session_key, TurnStatus.FAILED, reason=OutcomeReason.PARKED, detail=detail,
                lane=msg.lane, request_id=msg.request_id, finished_time=clock.now())))
        elif isinstance(msg, QueryOwnerState):
            self.send(reply_to, attrs.evolve(self._passive_state(record, parked.file, msg.request_id),
                                             state="parked"))
        else:
            self.send(reply_to, CommandResult(msg.request_id, False, detail, getattr(msg, "turn_id", None)))

    def receiveMsg_StartNewTranscript(self, msg: StartNewTranscript, sender) -> None:
        reply_to = msg.reply_to or sender
        record = self._index.get(msg.session_key) if self._store is not None else None
        if record is None:
            self.send(reply_to, CommandResult(msg.request_id, False, f"{msg.session_key} is not in the index"))
            return
        path = self._store.transcript_path(record.session_id)
        if path.exists() or str(path) in self._slots:
            self.send(reply_to, CommandResult(msg.request_id, False, f"{path} exists; nothing to start"))
            return
        self._may_create.add(record.session_id)
        log.warning("admin: the next turn of %s starts a new transcript at %s", msg.session_key, path,
                    extra={"session": msg.session_key})
        self.send(reply_to, CommandResult(msg.request_id, True, f"the next turn of {msg.session_key} starts "
                                                                f"a new transcript at {path}"))

    def receiveMsg_BindSession(self, msg: BindSession, sender) -> None:
        reply_to = msg.reply_to or sender
        try:
            target = self._record(msg.target_key)
            from sessionward.keys import validate_session_key

            validate_session_key(msg.session_key)
        except BadInputError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_session_key", str(exc)))
            return
        existing = self._index.get(msg.session_key)
        if existing is not None and existing.session_id != target.session_id:
            path = str(self._store.transcript_path(existing.session_id))
            if path in self._slots or self._store.transcript_path(existing.session_id).exists():
                self.send(reply_to, CommandResult(msg.request_id, False,
                                                  f"{msg.session_key} already has its own transcript"))
                return
        now = clock.now()
        record = SessionRecord(msg.session_key, target.session_id, now, now)
        if existing is not None and msg.session_key in self._keys_by_id.get(existing.session_id, []):
            self._keys_by_id[existing.session_id].remove(msg.session_key)
        self._index[msg.session_key] = record
        self._keys_by_id.setdefault(target.session_id, []).append(msg.session_key)
        # Bindings are not derivable from the key, so they are written at once.
        self._store.save({msg.session_key: record, **self._dirty})
        self._dirty.clear()
        slot = self._slots.get(str(self._store.transcript_path(target.session_id)))
        if slot is not None and msg.session_key not in slot.keys:
            slot.keys.append(msg.session_key)
            if slot.state == "live":
                self.send(slot.address, KeysChanged(slot.path, tuple(slot.keys)))
        self.send(reply_to, CommandResult(msg.request_id, True, f"{msg.session_key} -> {target.session_id}"))

    # -- owner life cycle ---------------------------------------------------------------------

    def _slot_of(self, address) -> _Slot | None:
        # ActorAddress is unhashable: find the slot by comparison.
        for slot in self._slots.values():
            if slot.address == address:
                return slot
        return None

    def _flush_held(self, slot: _Slot) -> None:
        # The owner has its file now: write new keys' index entries before any turn can end,
        # so a key's entry is durable before its first outcome (closing a runtime within the
        # batching delay used to lose it) and never names a file that was not created.
        self._flush_index()
        held, slot.held = slot.held, []
        for msg, _sender in held:
            self.send(slot.address, msg)

    def receiveMsg_OwnerActivated(self, msg: OwnerActivated, sender) -> None:
        slot = self._slots.get(msg.path)
        if slot is None or slot.address != sender:
            return
        slot.state, slot.pid, slot.heard_time = "live", msg.pid, clock.now()
        self._may_create.discard(slot.session_id)  # from now on a missing file is a loss
        if slot.rehome_started is not None:
            self._last_rehome = clock.now() - slot.rehome_started
            slot.rehome_started = None
        report = msg.report
        repaired = (getattr(report, "torn_bytes", 0) or getattr(report, "bad_lines", 0)
                    or getattr(report, "migrated_from", None))
        if repaired:
            log.warning("session %s opened with repairs: %s", slot.session_key, report)
        if msg.replayed:
            log.warning("session %s replays %d acknowledged turns", slot.session_key, len(msg.replayed))
        self._flush_held(slot)

    def receiveMsg_OwnerWorkerStarted(self, msg: OwnerWorkerStarted, sender) -> None:
        slot = self._slots.get(msg.path)
        if slot is not None and slot.address == sender:
            slot.worker_pid, slot.heard_time = msg.pid, clock.now()

    def receiveMsg_OwnerActivationFailed(self, msg: OwnerActivationFailed, sender) -> None:
        slot = self._slots.get(msg.path)
        if slot is None or slot.address != sender:
            return
        slot.expected_exit = True
        del self._slots[msg.path]
        if (msg.kind == "owned_elsewhere" and slot.rehome_started is not None
                and clock.now() - slot.rehome_started < REHOME_LOCK_WAIT):
            # Re-homing after a member was declared gone, but the file is still locked: the
            # old owner is alive after all (a slow member, not a dead one). It finishes
            # its accepted turns and passivates; until its lock is free we hold everything
            # and try again. Its lock is what keeps the two from ever both writing.
            self._waiting[msg.path] = slot
            if slot.lost_owner is not None:
                self.send(slot.lost_owner, PassivateOwner(msg.path))  # released at once if idle
            self.wakeupAfter(REHOME_RETRY_AFTER, payload=("rehome", msg.path))
            return
        reason = {"owned_elsewhere": OutcomeReason.OWNED_ELSEWHERE,
                  "corrupt_transcript": OutcomeReason.BAD_INPUT,
                  "transcript_missing": OutcomeReason.TRANSCRIPT_MISSING}.get(msg.kind, OutcomeReason.UNAVAILABLE)
        if msg.kind == "transcript_missing":
            msg = attrs.evolve(msg, message=missing_transcript(slot.session_key, msg.path))
            log.error("%s", msg.message, extra={"session": slot.session_key})
        for held, held_sender in slot.held:
            reply_to = getattr(held, "reply_to", None) or held_sender
            if isinstance(held, SubmitTurn):
                self.send(reply_to, OutcomeMessage(TurnOutcome(
                    "", held.session_key, TurnStatus.FAILED, reason=reason, detail=msg.message,
                    lane=held.lane, request_id=held.request_id, finished_time=clock.now())))
            else:
                self.send(reply_to, ErrorReply(held.request_id, msg.kind, msg.message))

    def receiveMsg_OwnerIdle(self, msg: OwnerIdle, sender) -> None:
        slot = self._slots.get(msg.path)
        if slot is not None and slot.address == sender and slot.state == "live":
            slot.heard_time = clock.now()
            slot.state = "passivating"
            self.send(sender, PassivateOwner(msg.path))
        elif slot is None or slot.address != sender:
            # An owner this Directory no longer tracks (its member was declared gone, but it
            # lived): let it release the file; it only goes if it is idle.
            self.send(sender, PassivateOwner(msg.path))

    def receiveMsg_PassivationRefused(self, msg: PassivationRefused, sender) -> None:
        slot = self._slots.get(msg.path)
        if slot is not None and slot.address == sender:
            slot.state, slot.heard_time = "live", clock.now()
            self._flush_held(slot)

    def receiveMsg_OwnerPassivated(self, msg: OwnerPassivated, sender) -> None:
        # The owner has released the file; anything held goes to a fresh owner at once.
        self._retire(msg.path, sender)

    def receiveMsg_OwnerFenced(self, msg: OwnerFenced, sender) -> None:
        self._fenced.append(msg.path)
        del self._fenced[:-100]
        self._retire(msg.path, sender, end=True)

    def _retire(self, path: str, sender, *, end: bool = False) -> None:
        slot = self._slots.get(path)
        if slot is None or slot.address != sender:
            return
        slot.expected_exit = True
        del self._slots[path]
        if end:
            self.send(sender, ActorExitRequest())
        if slot.held:
            self._activate(self._index[slot.session_key], path, held=slot.held)

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender) -> None:
        slot = self._slot_of(msg.childAddress)
        if slot is None or slot.expected_exit:
            return
        # An owner died under us (killed, crashed, or replaced): end its worker too, and
        # start a new owner at once so acknowledged turns are replayed.
        self._lost(slot, "it exited unexpectedly")

    def _lost(self, slot: _Slot, why: str) -> None:
        """An owner is gone (dead, or ended because it was wedged): start its successor at
        once, after a backoff, or park the session, as ``liveness.next_replacement`` says."""
        if slot.member == self._own_member:
            # The worker was forked by the owner and shares its open transcript, and so its
            # lock: the successor could not take the file while the worker still exists.
            _kill(slot.worker_pid, wait=2.0)
        slot.expected_exit = True
        self._replaced += 1
        history, decision = liveness.next_replacement(
            self._replacements.get(slot.path, liveness.ReplacementHistory()), clock.now(), self._policy)
        self._replacements[slot.path] = history
        if isinstance(decision, liveness.Park):
            self._park(slot, f"{decision.reason} (the last because {why})")
        elif decision.delay <= 0:
            log.error("owner of %s (pid %s): %s; starting a new one", slot.path, slot.pid, why,
                      extra={"session": slot.session_key})
            self._restart(slot)
        else:
            log.error("owner of %s (pid %s): %s; a new one starts in %.1f s (backoff)", slot.path, slot.pid,
                      why, decision.delay, extra={"session": slot.session_key})
            slot.state, slot.address, slot.pid, slot.worker_pid = "backoff", None, 0, 0
            self.wakeupAfter(decision.delay, payload=("restart", slot.path))

    def _check_processes(self) -> None:
        """Death is also what the process table says: a local owner whose process is gone is
        replaced now, even if Thespian's exit notice never comes (seen once in a few hundred
        runs: a SIGKILLed owner's turns then waited forever when recovery was off)."""
        for slot in [s for s in self._slots.values() if s.state == "live" and s.pid
                     and s.member == self._own_member and s.pid != os.getpid()]:
            if not running(slot.pid) and self._slots.get(slot.path) is slot:
                self._lost(slot, "its process is gone (seen in the process table)")

    def _park(self, slot: _Slot, reason: str) -> None:
        """Stop restarting the file: every turn waiting on it fails ``parked``, now."""
        now = clock.now()
        self._slots.pop(slot.path, None)
        parked = ParkedSession(slot.session_key, slot.path, reason, now)
        self._parked[slot.path] = parked
        log.error("session %s parked: %s; its turns fail with reason 'parked' until an admin runs "
                  "`sessionward unpark %s`", slot.session_key, reason, slot.session_key,
                  extra={"session": slot.session_key})
        record = self._index.get(slot.session_key) or self._record(slot.session_key)
        held_ids = {id(m) for m, _ in slot.held}
        waiting = slot.held + [(m, None) for _, m in slot.recent + slot.inflight if id(m) not in held_ids]
        for msg, sender in waiting:
            reply_to = getattr(msg, "reply_to", None) or sender
            if reply_to is not None:
                self._answer_parked(msg, reply_to, parked, record)
        # Turns its owners acknowledged and never finished: their submitters are told now
        # (the inbox keeps where to reply). Unparking fails them in the file, never runs them.
        accepted, finished = read_inbox(self._store.sidecar_path(slot.path, ".inbox"))
        told = {getattr(m, "request_id", None) for m, _ in waiting}
        for turn in accepted:
            reply_to, request_id = decode_reply(turn.reply)
            if turn.turn_id in finished or reply_to is None or request_id in told:
                continue
            self.send(reply_to, OutcomeMessage(TurnOutcome(
                turn.turn_id, slot.session_key, TurnStatus.FAILED, reason=OutcomeReason.PARKED,
                detail=f"session parked: {reason}", lane=turn.lane, request_id=request_id,
                accepted_time=turn.accepted_time, finished_time=now)))

    def receiveMsg_UnparkSession(self, msg: UnparkSession, sender) -> None:
        reply_to = msg.reply_to or sender
        resolved = self._resolve(msg, reply_to)
        if resolved is None:
            return
        record, path = resolved
        if self._parked.pop(path, None) is None:
            self.send(reply_to, CommandResult(msg.request_id, False, f"{msg.session_key} is not parked"))
            return
        self._replacements[path] = liveness.cleared()
        log.warning("session %s unparked by an admin", msg.session_key, extra={"session": msg.session_key})
        self._activate(record, path, fail_unfinished_as=OutcomeReason.PARKED.value)
        self.send(reply_to, CommandResult(msg.request_id, True, f"{msg.session_key} unparked"))

    @property
    def _own_member(self) -> str:
        return self._cluster.member if self._cluster is not None else "local"

    def _restart(self, slot: _Slot) -> _Slot:
        """Start a new owner for a lost one's file; it replays the inbox, and the submits,
        queries and commands recently forwarded to the lost one are forwarded again (it
        drops submits it already holds; a caller ignores a second answer)."""
        self._slots.pop(slot.path, None)
        held_ids = {id(m) for m, _ in slot.held}
        again = [(m, None) for _, m in slot.recent + slot.inflight if id(m) not in held_ids]
        new = self._activate(self._index.get(slot.session_key) or self._record(slot.session_key), slot.path,
                             held=again + slot.held)
        new.recent = slot.recent
        return new

    def _restart_waiting(self, slot: _Slot) -> _Slot:
        new = self._activate(self._index.get(slot.session_key) or self._record(slot.session_key), slot.path,
                             held=slot.held)
        new.recent = slot.recent
        return new

    def receiveMsg_ActorSystemConventionUpdate(self, msg: ActorSystemConventionUpdate, sender) -> None:
        name = (msg.remoteCapabilities or {}).get("sessionward.member")
        if self._cluster is None or not name or name == self._own_member:
            return
        if msg.remoteAdded:
            log.warning("member %s joined (%s)", name, msg.remoteAdminAddress)
            self._members[name] = msg.remoteAdminAddress
            try:
                host, port = msg.remoteAdminAddress.addressDetails.connectArgs[0][:2]
                self.send(self._watch, WatchMember(name, host, port))
            except (AttributeError, IndexError, TypeError):
                log.warning("member %s: cannot watch admin address %s", name, msg.remoteAdminAddress)
            return
        # Thespian reports the member left the convention (it said goodbye, or missed its
        # check-ins).
        self._member_gone(name, "it left the convention")

    def receiveMsg_MemberGone(self, msg: MemberGone, sender) -> None:
        self._member_gone(msg.name, msg.detail)

    def _member_gone(self, name: str, why: str) -> None:
        """Re-home a lost member's sessions on the others (its owners died with it; if one
        did not, its file lock makes the new owner wait until it lets go)."""
        if name not in self._members:
            return
        self._members.pop(name, None)
        self.send(self._watch, UnwatchMember(name))
        lost = [s for s in self._slots.values() if s.member == name]
        log.error("member %s is gone (%s); re-homing %d sessions", name, why, len(lost))
        now = clock.now()
        for slot in lost:
            slot.expected_exit = True
            self._rehomed += 1
            new = self._restart(slot)
            new.rehome_started, new.lost_owner = now, slot.address

    def receiveMsg_ReplaceOwner(self, msg: ReplaceOwner, sender) -> None:
        reply_to = msg.reply_to or sender
        resolved = self._resolve(msg, reply_to)
        if resolved is None:
            return
        _record, path = resolved
        slot = self._slots.get(path)
        if slot is None:
            self.send(reply_to, CommandResult(msg.request_id, False, "no live owner"))
            return
        if slot.state in ("replacing", "backoff"):
            self.send(reply_to, CommandResult(msg.request_id, False, f"already {slot.state}"))
            return
        if slot.state != "live":  # activating or replaying: never wedged, however long it takes
            self.send(reply_to, CommandResult(msg.request_id, False, f"not wedged: it is {slot.state}, not live"))
            return
        if not slot.pid or slot.pid == os.getpid():
            self.send(reply_to, CommandResult(msg.request_id, False, "owner shares this process; cannot end it"))
            return
        if slot.member != self._own_member:
            # A process on another host cannot be ended from here; its member must be
            # restarted (then Thespian declares it gone and its sessions are re-homed).
            self.send(reply_to, CommandResult(msg.request_id, False,
                                              f"owner runs on member {slot.member}; restart that member"))
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
        slot.state = "replacing"
        _kill(slot.worker_pid)
        _kill(slot.pid)
        self.send(reply_to, CommandResult(msg.request_id, True, f"owner pid {slot.pid} ended: {why}"))

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender) -> None:
        log.warning("directory could not deliver %s", type(msg.poisonMessage).__name__)

    # -- admin --------------------------------------------------------------------------------

    def receiveMsg_QuerySessions(self, msg: QuerySessions, sender) -> None:
        self._gather("sessions", msg, msg.reply_to or sender)

    def receiveMsg_QuerySystem(self, msg: QuerySystem, sender) -> None:
        self._gather("system", msg, msg.reply_to or sender)

    def _gather(self, kind: str, request, reply_to) -> None:
        live = [s for s in self._slots.values() if s.state == "live"]
        gather_id = uuid.uuid4().hex
        self._gathers[gather_id] = _Gather(kind, request, reply_to, {s.path for s in live},
                                           sent_time=clock.now())
        for slot in live:
            if not slot.query_outstanding:  # else it stays silent in this gather, unasked
                slot.query_outstanding = True
                self.send(slot.address, QueryOwnerState(gather_id, slot.session_key, reply_to=self.myAddress))
        if live:
            timeout = getattr(request, "timeout", None) or self._config.recovery.status_timeout
            self.wakeupAfter(timeout, payload=("gather", gather_id))
        else:
            self._finish_gather(gather_id)

    def receiveMsg_OwnerState(self, msg: OwnerState, sender) -> None:
        gather = self._gathers.get(msg.request_id)
        slot = self._slots.get(msg.file)
        if slot is not None and slot.address == sender:
            slot.heard_time, slot.query_outstanding = clock.now(), False
            if gather is not None:
                # Messages reach an owner in the order they were sent, so it has handled
                # everything forwarded before this query: nothing of that needs re-forwarding.
                _handled_before(slot, gather.sent_time)
        # One answer serves every gather waiting on this owner: a gather that found a query
        # already outstanding did not send its own (see ``_Slot.query_outstanding``).
        for gather_id, waiting in list(self._gathers.items()):
            if msg.file in waiting.waiting:
                waiting.answers.append(msg)
                waiting.waiting.discard(msg.file)
                if not waiting.waiting:
                    self._finish_gather(gather_id)

    def _finish_gather(self, gather_id: str) -> None:
        gather = self._gathers.pop(gather_id, None)
        if gather is None:
            return
        request = gather.request
        if gather.kind == "sessions":
            if request.unbounded:
                page, total = gather.answers, len(gather.answers)
            else:
                page, total = select_sessions(gather.answers, active_only=request.active_only,
                                              lane=request.lane, limit=request.limit, offset=request.offset)
            silent = sorted(self._slots[p].session_key for p in gather.waiting if p in self._slots)
            self.send(gather.reply_to, SessionsPage(request.request_id, tuple(page), total, tuple(silent)))
        else:
            running, queued = lane_figures(gather.answers)
            self.send(gather.reply_to, SystemStatus(
                request.request_id, live_owners=len(self._slots), known_sessions=len(self._index),
                running_by_lane=running, queued_by_lane=queued, fenced_files=tuple(self._fenced),
                owners_replaced=self._replaced, pid=os.getpid(), versions=_versions(),
                members=self._member_loads(), leader=self._own_member, rehomed_sessions=self._rehomed,
                last_rehome_seconds=self._last_rehome, parked=tuple(self._parked.values())))

    def _member_loads(self) -> dict[str, int]:
        loads = dict.fromkeys(self._members, 0)
        for slot in self._slots.values():
            loads[slot.member] = loads.get(slot.member, 0) + 1
        return loads

    # -- timers and shutdown ------------------------------------------------------------------

    def _arm_flush(self) -> None:
        if not self._flush_armed:
            self._flush_armed = True
            self.wakeupAfter(self._config.index_flush_after, payload="flush")

    def _flush_index(self) -> None:
        if self._dirty and self._store is not None:
            try:
                self._store.save(self._dirty)
            except Exception:  # kept dirty and retried; the turn itself can still run
                log.exception("could not write the session index; retrying in %ss", self._config.index_flush_after)
                self._arm_flush()
                return
            self._dirty.clear()

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        if msg.payload == "processes":
            self.wakeupAfter(PROCESS_CHECK_EVERY, payload="processes")
            self._check_processes()
        elif msg.payload == "flush":
            self._flush_armed = False
            self._flush_index()
        elif isinstance(msg.payload, tuple) and msg.payload[0] == "gather":
            self._finish_gather(msg.payload[1])
        elif isinstance(msg.payload, tuple) and msg.payload[0] == "restart":
            slot = self._slots.get(msg.payload[1])
            if slot is not None and slot.state == "backoff":
                self._restart(slot)
        elif isinstance(msg.payload, tuple) and msg.payload[0] == "rehome":
            waiting = self._waiting.pop(msg.payload[1], None)
            if waiting is not None and waiting.path not in self._slots:
                again = self._restart_waiting(waiting)
                again.rehome_started, again.lost_owner = waiting.rehome_started, waiting.lost_owner

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        self._flush_index()
        for slot in self._slots.values():
            slot.expected_exit = True


REHOME_LOCK_WAIT = 120.0
"""How long a re-homed session waits for a lost-but-alive owner to release its file."""
REHOME_RETRY_AFTER = 1.0

RECENT_SUBMITS = 512
"""How many forwarded submits a slot remembers for re-forwarding after an owner crash."""
RECENT_SUBMITS_AFTER = 600.0
"""... and for how long (seconds)."""


def _remember_submit(slot: _Slot, msg: SubmitTurn) -> None:
    slot.recent = _remembered(slot.recent, msg, RECENT_SUBMITS, RECENT_SUBMITS_AFTER)


def _remembered(items: list[tuple[float, Any]], msg, most: int, keep: float) -> list[tuple[float, Any]]:
    """``items`` with ``(now, msg)`` appended, bounded to the last ``most`` of ``keep`` seconds."""
    now = clock.now()
    items.append((now, msg))
    if len(items) > most or now - items[0][0] > keep:
        items = [(t, m) for t, m in items[-most:] if now - t <= keep]
    return items


PROCESS_CHECK_EVERY = 1.0
"""How often the Directory looks its local owners up in the process table (seconds)."""

INFLIGHT_KEEP = 60.0
"""How long a forwarded query or command is kept for re-forwarding (seconds): longer than
any caller waits for its answer."""
INFLIGHT_MAX = 256


def _remember_request(slot: _Slot, msg) -> None:
    slot.inflight = _remembered(slot.inflight, msg, INFLIGHT_MAX, INFLIGHT_KEEP)


def _handled_before(slot: _Slot, sent_time: float) -> None:
    """Forget forwarded messages sent before ``sent_time``: the owner has handled them."""
    slot.recent = [(t, m) for t, m in slot.recent if t > sent_time]
    slot.inflight = [(t, m) for t, m in slot.inflight if t > sent_time]


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def _kill(pid: int, wait: float = 0.0) -> None:
    """SIGKILL ``pid``; with ``wait``, poll up to that many seconds until it is gone."""
    if pid and pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and running(pid):
            time.sleep(0.005)  # a dying process's exit has no event to await here


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("sessionward", "thespian", "attrs", "cattrs"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out
