"""Directory: one per actor system. Maps a session file to its owner, creating owners on demand.

Owners are keyed by the transcript's canonical real path, not by session key, so two keys
that resolve to one file reach one owner. The Directory has its owners forked by its
child the owner factory (``owner_factory``; by itself when the factory cannot), which
tells it when one exits (``OwnerExited``, as Thespian tells a parent ``ChildActorExited``):
an owner that passivated or was fenced is forgotten; one that died unexpectedly is started
again at once, and the new owner replays the acknowledged turns its predecessor never
finished.

While an owner is activating or passivating, messages for its file are *held* and
forwarded (or handed to the next owner) afterwards: none is lost in the window.

Messages are handled one at a time, so two first contacts for one file can never create two
owners: the second finds the first's slot.

This actor dispatches, decides through pure modules, and sends. What it knows lives there:
``session_index`` (key -> record, the batched flush), ``owner_slots`` (each owner's state,
held and forwarded messages), ``replacements`` (backoff and parking), ``membership``
(members, placement, re-homing), ``gathers`` (admin fan-out) and ``directory_answers``
(replies given without an owner).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
from thespian.actors import ActorExitRequest, PoisonMessage, WakeupMessage

from sessionward import clock
from sessionward.actors import directory_timers as T
from sessionward.actors.base import GuardedActor
from sessionward.actors.directory_admin import AdminRequests
from sessionward.actors.directory_answers import no_owner, parked_answer, passive_state
from sessionward.actors.directory_lifecycle import OwnerLifecycle
from sessionward.actors.gathers import Gathers
from sessionward.actors.lease_keeper import HoldLease
from sessionward.actors.member_watch import MemberWatch
from sessionward.actors.membership import Membership
from sessionward.actors.messages import (
    ActivateOwner,
    ClientRegistered,
    ConfigureDirectory,
    DirectoryReady,
    ErrorReply,
    ForStore,
    IndexFlushed,
    KeysChanged,
    OwnerMoved,
    OwnerState,
    QueryOwnerState,
    RegisterClient,
    SubmitTurn,
)
from sessionward.actors.owner_slots import OwnerSlot, SlotState, SlotTable
from sessionward.actors.replacements import Replacements
from sessionward.actors.session_index import SessionIndex
from sessionward.actors.spare_owners import SparePool, WaitingActivation
from sessionward.errors import BadInputError, CorruptTranscriptError, InvalidSessionKeyError, PathEscapesStoreError
from sessionward.logs import ActorLogger
from sessionward.storage.store import SessionRecord, SessionStore

log = ActorLogger("sessionward.directory")  # resolved per call: see sessionward.logs

DIRECTORY_NAME = "sessionward.directory"
"""The Directory's global name in its actor system."""

MAX_CLIENTS = 64
"""Registered clients told of owner moves; an older one (a CLI run long gone) is dropped,
and only loses the notice: its stale routes are still refused or fail to send."""

PROCESS_CHECK_EVERY = 1.0
"""How often the Directory looks its local owners up in the process table (seconds)."""


class Directory(OwnerLifecycle, AdminRequests, GuardedActor):
    """One actor, its handlers in three modules by job: set-up, routing and timers here,
    owners' life cycle in ``directory_lifecycle``, admin requests in ``directory_admin``.
    Its state is declared in ``directory_state``; the mixins read and change it through the
    pure modules."""

    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._store: SessionStore | None = None
        self._config = None
        self._provider = None
        self._index: SessionIndex | None = None
        self._slots = SlotTable()
        self._spares = SparePool()
        self._stopping_spares: list = []  # (request id, reply to) of each StopSpares not answered yet
        self._factory = None
        self._factory_pid = 0
        self._factory_lost_at = None
        self._gathers = Gathers()
        self._replacements = Replacements()
        self._members = Membership()
        self._watch = None
        self._keepers: dict[str, Any] = {}
        self._fenced: list[str] = []
        self._wedged_after = 60.0
        self._system_id: str | None = None
        self._clients: list[Any] = []
        """Registered clients' mailboxes, the last ``MAX_CLIENTS`` (a list: addresses are unhashable)."""
        self._waiting_for_index: list[str] = []
        """Paths of live owners that hold outcomes until the next index write (``IndexFlushed``)."""

    # -- set-up -------------------------------------------------------------------------------

    def receiveMsg_ConfigureDirectory(self, msg: ConfigureDirectory, sender) -> None:
        self._store = SessionStore.from_locator(msg.store_root)
        self._config, self._provider, self._system_id = msg.config, msg.provider, msg.system_id
        self._replacements = Replacements(msg.config.recovery.replacement_policy())
        self._wedged_after = msg.config.recovery.thresholds().effective_wedged_after
        if msg.cluster is not None:
            self._members = Membership(msg.cluster)
        self._spares = SparePool(msg.config.spare_owners)  # before the factory is asked anything
        # Before the index is loaded: the factory inherits this process's memory as it is
        # now, and every owner forked from it shares that (``actors/owner_factory.py``).
        self._start_factory()
        self._index = SessionIndex.load(self._store)
        if msg.cluster is not None:
            # Lead a convention: owners are placed on members, and Thespian tells us when a
            # member joins or is declared gone (ActorSystemConventionUpdate).
            self.notifyOnSystemRegistrationChanges(True)
            self._watch = self.createActor(MemberWatch)
        self.send(sender, DirectoryReady(msg.request_id, os.getpid()))
        self.wakeupAfter(PROCESS_CHECK_EVERY, payload=T.CheckProcesses())
        self._arm_refill()

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
        # Registered clients hear when an owner stops being live (``OwnerMoved``): they send
        # to owners directly after first contact (``sessionward.routes``).
        self._clients = [*[c for c in self._clients if c != sender][-(MAX_CLIENTS - 1):], sender]
        self.send(sender, ClientRegistered(msg.request_id, sender))

    def _owner_moved(self, path: str) -> None:
        """Tell the registered clients that the owner of ``path`` is no longer live. Only
        an optimisation: a client's stale route is refused by the owner or fails to send."""
        for client in self._clients:
            self.send(client, OwnerMoved(path))

    # -- routing ------------------------------------------------------------------------------

    def receiveMsg_SubmitTurn(self, msg, sender) -> None:
        if getattr(msg, "reply_to", None) is None and hasattr(msg, "reply_to"):
            msg = attrs.evolve(msg, reply_to=sender)
        reply_to = getattr(msg, "reply_to", sender)
        if self._store is None:
            self.send(reply_to, ErrorReply(msg.request_id, "unavailable", "the directory is not configured"))
            return
        try:
            record, path = self._locate(msg.session_key)
        except InvalidSessionKeyError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_session_key", str(exc)))
            return
        except PathEscapesStoreError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "path_escapes_store", str(exc)))
            return
        except CorruptTranscriptError as exc:  # the key's record in sessions.json is unusable
            self.send(reply_to, ErrorReply(msg.request_id, "corrupt_transcript", str(exc)))
            return
        parked = self._replacements.parked_at(path)
        if parked is not None:  # a parked session answers at once
            self.send(reply_to, parked_answer(msg, parked, record, clock.now()))
            return
        slot = self._slots.get(path) or self._members.waiting.get(path)
        if slot is None:
            if isinstance(msg, QueryOwnerState) and not msg.activate:
                self.send(reply_to, self._passive_state(record, path, msg.request_id))
                return
            if not isinstance(msg, SubmitTurn | QueryOwnerState):
                self.send(reply_to, no_owner(msg))
                return
            # The owner takes this message with its activation (``ActivateOwner.carried``).
            self._activate(record, path, first=(msg, sender))
            return
        self._add_key(slot, msg.session_key)
        msg = slot.remember(msg, clock.now())
        if slot.state == SlotState.LIVE:
            self._flush_index()  # a new key's entry is on disk before its first outcome
            self.send(slot.address, msg)
        else:
            slot.held.append((msg, sender))

    receiveMsg_AbortTurn = receiveMsg_SubmitTurn
    receiveMsg_CancelTurn = receiveMsg_SubmitTurn
    receiveMsg_NudgeTurn = receiveMsg_SubmitTurn
    receiveMsg_QueryOwnerState = receiveMsg_SubmitTurn

    def _locate(self, session_key: str) -> tuple[SessionRecord, str]:
        """The index record of ``session_key`` and its transcript's path. Raises BadInputError."""
        record = self._record(session_key)
        return record, str(self._store.transcript_path(record.session_id))

    def _resolve(self, msg, reply_to) -> tuple[SessionRecord, str] | None:
        """``_locate(msg.session_key)``, or None after answering ``reply_to`` with the typed error."""
        try:
            return self._locate(msg.session_key)
        except BadInputError as exc:
            self.send(reply_to, ErrorReply(msg.request_id, "invalid_session_key", str(exc)))
            return None

    def _record(self, session_key: str) -> SessionRecord:
        record, new = self._index.record(session_key, clock.now())
        if new:
            self._arm_flush()
        return record

    def _passive_state(self, record: SessionRecord, path: str, request_id: str) -> OwnerState:
        missing = not self._index.may_create(record.session_id) and not Path(path).exists()
        return passive_state(record, path, request_id, clock.now(), missing=missing)

    def _add_key(self, slot: OwnerSlot, key: str) -> None:
        if slot.add_key(key):
            self.send(slot.address, KeysChanged(slot.path, tuple(slot.keys)))

    def _activate(self, record: SessionRecord, path: str, held: list | None = None,
                  fail_unfinished_as: str | None = None, first: tuple | None = None,
                  after_loss: bool = False) -> OwnerSlot:
        """Start an owner on ``path``. What is held for it (``held``, and ``first``: the
        message that made this activation) goes with ``ActivateOwner`` (``carried``): the
        owner takes it once it has its file, a hop sooner than if it were sent after
        ``OwnerActivated``. It stays in ``slot.held`` until then: if the activation fails
        the Directory answers it, and if the owner dies it goes to the next one."""
        from sessionward.actors.owner import SessionOwner

        keys = self._index.keys_of(record.session_id) or [record.session_key]
        slot = OwnerSlot(path, record.session_key, record.session_id, keys, held=held or [],
                         heard_time=clock.now())
        if first is not None:
            msg, sender = first
            self._add_key(slot, msg.session_key)
            slot.held.append((slot.remember(msg, clock.now()), sender))
        if self._members.cluster is not None:
            slot.member = self._members.place(path, record.session_key, self._slots)
        if slot.member == self._members.own:
            # A spare is the factory's while there is one (``_refill_spares``).
            slot.address = self._local_owner()
            slot.from_factory = slot.address is not None and self._factory is not None
        else:
            slot.address = self.createActor(SessionOwner,
                                            targetActorRequirements={"sessionward.member": slot.member})
        if slot.member in self._keepers:  # its member stops it if cut off from us
            self.send(self._keepers[slot.member], HoldLease(path, slot.address))
        self._slots.add(slot)
        if slot.address is None:  # no spare: the factory's next owner is this one's
            self._wait_for_owner(WaitingActivation(path, clock.now(), fail_unfinished_as, after_loss))
        else:
            self._send_activation(slot, fail_unfinished_as, after_loss)
        return slot

    def _send_activation(self, slot: OwnerSlot, fail_unfinished_as: str | None = None,
                         after_loss: bool = False) -> None:
        """``ActivateOwner`` to ``slot``'s owner, with what is held for it by now."""
        create = self._config.create_missing_transcripts or self._index.may_create(slot.session_id)
        sidecar_dir = None if self._store.sidecar_dir is None else str(self._store.sidecar_dir)
        slot.index_pending = self._index.is_dirty(slot.keys)
        slot.carried = len(slot.held)
        self.send(slot.address, ActivateOwner(slot.session_key, slot.session_id, slot.path, self._config,
                                              self._provider, tuple(slot.keys), slot.member, create=create,
                                              sidecar_dir=sidecar_dir, fail_unfinished_as=fail_unfinished_as,
                                              index_pending=slot.index_pending,
                                              carried=tuple(m for m, _ in slot.held), after_loss=after_loss))

    def _restart(self, slot: OwnerSlot, *, forward_again: bool = True) -> OwnerSlot:
        """Start a new owner for a lost one's file; it replays the inbox and sends again the
        outcomes the lost one may have taken with it (``ActivateOwner.after_loss``). With
        ``forward_again``, the submits, queries and commands recently forwarded to the lost
        one go to it again (it drops submits it already holds; a caller ignores a second
        answer)."""
        self._slots.remove(slot.path)
        again = slot.forward_again() if forward_again else []
        record = self._index.get(slot.session_key) or self._record(slot.session_key)
        new = self._activate(record, slot.path, held=again + slot.held, after_loss=True)
        new.recent = slot.recent
        return new

    # -- timers and shutdown ------------------------------------------------------------------

    def _arm_flush(self) -> None:
        if self._index.flush_due():
            self.wakeupAfter(self._config.index_flush_after, payload=T.FlushIndex())

    def _flush_index(self) -> None:
        if self._index is None:
            return
        try:
            self._index.flush()
        except Exception:  # kept dirty and retried; the turn itself can still run
            log.exception("could not write the session index; retrying in %ss", self._config.index_flush_after)
            self._arm_flush()
        # Written, or tried: outcomes held for it go now either way (a failed write is
        # logged and retried; it must not keep a finished turn's answer from its submitter).
        waiting, self._waiting_for_index = self._waiting_for_index, []
        for path in waiting:
            slot = self._slots.get(path)
            if slot is not None and slot.index_pending and slot.state == SlotState.LIVE:
                slot.index_pending = False
                self.send(slot.address, IndexFlushed(path))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        payload = msg.payload
        if isinstance(payload, T.CheckProcesses):
            self.wakeupAfter(PROCESS_CHECK_EVERY, payload=T.CheckProcesses())
            self._check_processes()
            self._fork_overdue()
        elif isinstance(payload, T.FlushIndex):
            self._index.flush_timer_fired()
            self._flush_index()
        elif isinstance(payload, T.FlushIndexNow):
            self._flush_index()
        elif isinstance(payload, T.GatherDue):
            self._finish_gather(payload.gather_id)
        elif isinstance(payload, T.RestartDue):
            slot = self._slots.get(payload.path)
            if slot is not None and slot.state == SlotState.BACKOFF:
                self._restart(slot).replaces_dead_since = clock.now()
        elif isinstance(payload, T.RefillSpares):
            self._refill_spares()
        elif isinstance(payload, T.RehomeRetry):
            waiting = self._members.waiting.pop(payload.path, None)
            if waiting is not None and waiting.path not in self._slots:
                again = self._restart(waiting, forward_again=False)
                again.rehome_started, again.lost_owner = waiting.rehome_started, waiting.lost_owner
                again.replaces_dead_since = waiting.replaces_dead_since

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        self._flush_index()
        self._end_spares()  # Thespian ends children too; these now, and no refill
        for slot in self._slots:
            slot.expected_exit = True

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender) -> None:
        if isinstance(msg.poisonMessage, OwnerMoved):  # a client gone without a word
            self._clients = [c for c in self._clients if c != sender]
            return
        log.warning("directory could not deliver %s", type(msg.poisonMessage).__name__)
