"""The Directory's side of an owner's life: activation, passivation, fencing, loss,
replacement or parking, and re-homing when a convention member is lost.

A mixin of ``Directory`` (``actors/directory.py``), which holds the state it reads and
the members' lease keepers (``_keepers``), and the routing helpers it calls
(``_activate``, ``_restart``, ``_record``, ``_flush_index``).
The rules are in the pure modules: ``owner_slots`` (state, held and forwarded messages),
``replacements`` and ``recovery.liveness`` (backoff and parking), ``membership``
(re-homing), ``directory_answers`` (what a parked or failed session answers).
"""

from __future__ import annotations

import os

from thespian.actors import ActorExitRequest, ActorSystemConventionUpdate, ChildActorExited

from sessionward import clock
from sessionward.actors.directory_answers import (
    activation_failed_answer,
    parked_answer,
    unfinished_turns_parked,
)
from sessionward.actors.directory_state import DirectoryState
from sessionward.actors.directory_timers import FlushIndexNow, RefillSpares, RehomeRetry, RestartDue
from sessionward.actors.lease_keeper import start_keeper
from sessionward.actors.member_watch import MemberGone, UnwatchMember, WatchMember
from sessionward.actors.membership import DEAD_LOCK_RETRY_AFTER, REHOME_RETRY_AFTER, admin_host_port
from sessionward.actors.messages import (
    ForkOwners,
    OwnerActivated,
    OwnerActivationFailed,
    OwnerExited,
    OwnerFenced,
    OwnerIdle,
    OwnerPassivated,
    OwnersForked,
    OwnerWorkerStarted,
    PassivateOwner,
    PassivationRefused,
    SparesStopped,
    StandBy,
    StopSpares,
)
from sessionward.actors.owner_slots import OwnerSlot, SlotState
from sessionward.actors.spare_owners import FORK_WAIT, REFILL_AFTER, WaitingActivation
from sessionward.config import StreamIn
from sessionward.hosting.processes import frozen_heap, running, sigkill
from sessionward.logs import ActorLogger
from sessionward.recovery import liveness
from sessionward.storage.inbox import read_inbox
from sessionward.storage.store import missing_transcript

log = ActorLogger("sessionward.directory")  # resolved per call: see sessionward.logs

FACTORY_RESTART_AFTER = 5.0
"""Seconds between a factory's death and the start of the next (a factory that dies at
once is not restarted in a loop; owners are forked here meanwhile)."""


class OwnerLifecycle(DirectoryState):
    """Handlers for owners' life-cycle notices and member loss (mixed into ``Directory``)."""

    # -- owner life cycle ---------------------------------------------------------------------

    def _flush_held(self, slot: OwnerSlot) -> None:
        """The owner has its file now: send it what was held. A key's index entry must be on
        disk before its first outcome (closing a runtime within the batching delay used to
        lose it) and never name a file that was not created, so it is written now, once
        the file exists.

        For an owner started with a new key (``index_pending``) the held messages go
        first and the index is written in the next handler (``FlushIndexNow``): the owner
        takes the turn (its inbox fsync, ``TurnAccepted``) while the index is written,
        instead of after, and holds the turn's outcome until ``IndexFlushed``. That took
        the index write (two fsyncs, 4-5 ms here) off a new session's time to acceptance.
        """
        if not slot.index_pending:
            self._flush_index()
        for msg, _sender in slot.take_held():
            self.send(slot.address, msg)
        if slot.index_pending and slot.path not in self._waiting_for_index:
            self._waiting_for_index.append(slot.path)
            self.wakeupAfter(0, payload=FlushIndexNow())

    # -- spare owners and the factory (``spare_owners``, ``owner_factory``) -------------------

    def _start_factory(self) -> None:
        """Start this member's owner factory (the owners' parent from now on)."""
        from sessionward.actors.owner_factory import OwnerFactory

        try:
            with frozen_heap():
                self._factory = self.createActor(OwnerFactory, targetActorRequirements=self._on_own_member())
        except Exception:  # owners are forked here until a later try succeeds
            log.exception("could not start the owner factory")
            self._factory, self._factory_lost_at = None, clock.now()
            return
        self._ask_factory(0)  # for its pid (``status``); refills ask for owners

    def _local_owner(self):
        """An owner on this member for a session to activate: a spare if there is one (a
        message away from serving); else None when the factory forks one (``_wait_for_owner``),
        or one forked here now when there is no factory. A refill is armed either way."""
        address = self._spares.take()
        if address is None and self._factory is None:
            address = self._fork_owner()
        self._arm_refill()
        return address

    def _fork_owner(self):
        from sessionward.actors.owner import SessionOwner

        with frozen_heap():  # see there: the owners share the Directory's pages
            return self.createActor(SessionOwner, targetActorRequirements=self._on_own_member())

    def _on_own_member(self) -> dict[str, str] | None:
        """``createActor``'s requirements for an actor on the Directory's own member."""
        return None if self._members.cluster is None else {"sessionward.member": self._members.own}

    def _wait_for_owner(self, activation: WaitingActivation) -> None:
        if self._spares.wait(activation):
            self._ask_factory(1)

    def _ask_factory(self, count: int) -> None:
        self.send(self._factory, ForkOwners(count, self._spares.ask(count, clock.now()), os.getpid(),
                                            immortal_heap=self._config.immortal_factory_heap))

    def _arm_refill(self) -> None:
        if self._factory is not None and not self._spares.spares and not self._spares.refill_armed:
            # The pool is empty: activations come faster than it is refilled, so it is
            # refilled at once (asking the factory is a message), and the next activation
            # of the burst more often finds a spare. Otherwise after REFILL_AFTER, so the
            # forks do not take the CPU from the activation that took the spare. Measured,
            # activation p50 of 100 new sessions one after another: 15.3-15.8 ms always
            # after the delay, 14.4-15.8 always at once; one every 0.1 s (a spare ready):
            # 14.7 ms always at once, 11.9 after the delay.
            self._ask_for_spare()
            return
        if self._spares.arm_refill():
            self.wakeupAfter(REFILL_AFTER, payload=RefillSpares())

    def _ask_for_spare(self) -> None:
        """Ask the factory for the pool's next spare, if it wants one and none is on the way:
        one at a time, so an activation that finds the pool empty waits for one fork, not a
        batch (``spare_owners.py``)."""
        count = self._spares.to_ask()
        if count:
            self._ask_factory(count)

    def _refill_spares(self) -> None:
        if self._factory is None and self._factory_lost_at is not None:
            # The factory died: no spares until the next one starts (a spare is then always
            # the factory's, and ``OwnerSlot.from_factory`` can be told from where it came).
            if self._spares.closed:
                return
            if clock.now() - self._factory_lost_at >= FACTORY_RESTART_AFTER:
                self._factory_lost_at = None
                self._start_factory()  # on failure it is lost again, from now
            if self._factory is None:
                self.wakeupAfter(FACTORY_RESTART_AFTER, payload=RefillSpares())
                return
        due = self._spares.refill_due()
        if self._factory is not None:
            self._ask_for_spare()
            return
        for _ in range(due):
            spare = self._fork_owner()
            self._spares.add(spare)
            self._stand_by(spare)

    def _stand_by(self, spare) -> None:
        if self._config is None:
            self.send(spare, StandBy())  # not configured yet: its worker is set up at activation
        elif self._config.stream_in is StreamIn.WORKER:  # none: streams run in the owner
            self.send(spare, StandBy(self._provider, self._config.stream_batch_window,
                                     self._config.stream_batch_max))

    def receiveMsg_OwnersForked(self, msg: OwnersForked, sender) -> None:
        if sender != self._factory:
            return  # a dead factory's late answer: its owners' exits would not be told
        self._factory_pid = msg.pid
        done = self._spares.forked(msg.request, msg.addresses, self._awaits_owner)
        for activation, address in done.activate:
            slot = self._slots.get(activation.path)
            slot.address, slot.from_factory = address, True
            self._send_activation(slot, activation.fail_unfinished_as, activation.after_loss)
        for spare in done.spares:
            self._stand_by(spare)
        for extra in done.surplus:
            self.send(extra, ActorExitRequest())
        self._fork_here(done.fork_here)
        if msg.failed:
            self._arm_refill()
        else:
            self._ask_for_spare()  # the pool's next spare, if it still wants one
        self._answer_stop_spares()

    def receiveMsg_StopSpares(self, msg: StopSpares, sender) -> None:
        """The runtime closes: no more spares, and an answer once no fork is under way."""
        self._end_spares()
        self._stopping_spares.append((msg.request_id, msg.reply_to or sender))
        self._answer_stop_spares()

    def _end_spares(self) -> None:
        """Close the pool (nothing is started for it again) and end every spare in it."""
        for spare in self._spares.close():
            self.send(spare, ActorExitRequest())

    def _answer_stop_spares(self) -> None:
        """Answer each ``StopSpares`` once no owner asked of the factory is on its way (an
        owner forked just before its factory's exit request misses it: ``StopSpares``)."""
        if self._stopping_spares and self._spares.coming() == 0:
            for request_id, reply_to in self._stopping_spares:
                self.send(reply_to, SparesStopped(request_id))
            self._stopping_spares = []

    def _awaits_owner(self, path: str) -> bool:
        slot = self._slots.get(path)
        return slot is not None and slot.address is None and slot.state == SlotState.ACTIVATING

    def _fork_here(self, activations: list[WaitingActivation]) -> None:
        """Activations no factory owner is coming for: forked here, as without a factory."""
        for activation in activations:
            if self._awaits_owner(activation.path):
                slot = self._slots.get(activation.path)
                slot.address = self._fork_owner()
                self._send_activation(slot, activation.fail_unfinished_as, activation.after_loss)

    def _fork_overdue(self) -> None:
        overdue = self._spares.overdue(clock.now())
        self._answer_stop_spares()  # forgotten requests are on their way no more
        if overdue:
            log.warning("owner factory: no owner after %.0f s for %d activation(s); forking them here",
                        FORK_WAIT, len(overdue))
            self._fork_here(overdue)
            self._arm_refill()

    def _factory_exited(self) -> None:
        """The factory died, and its owners with it (they die with their parent:
        ``hosting/lifetime.py``), and nothing will tell their exits. Each is taken as dead
        now, as its exit notice would have been: its pid, when known, is SIGKILLed and
        waited for first, so that its successor finds the file's lock free. (An owner still
        activating has no pid yet; it was SIGKILLed with its parent, before this notice
        came.) The factory's spares are ended, waiting activations are forked here, and a
        new factory starts ``FACTORY_RESTART_AFTER`` later."""
        self._factory, self._factory_lost_at = None, clock.now()
        waiting, spares = self._spares.factory_lost()
        self._answer_stop_spares()  # nothing asked of it comes now
        if self._spares.closed:
            return
        orphans = [s for s in self._slots if s.from_factory and s.member == self._members.own]
        log.error("owner factory exited, and its %d owners with it; a new factory starts in %.0f s",
                  len(orphans), FACTORY_RESTART_AFTER)
        for spare in spares:
            self.send(spare, ActorExitRequest())
        for slot in orphans:
            sigkill(slot.pid, wait=2.0)
            if self._slots.get(slot.path) is slot:
                self._owner_exited(slot.address)
        self._fork_here(waiting)
        self.wakeupAfter(FACTORY_RESTART_AFTER, payload=RefillSpares())

    def receiveMsg_OwnerActivated(self, msg: OwnerActivated, sender) -> None:
        slot = self._slots.of(msg.path, sender)
        if slot is None:
            return
        now = clock.now()
        slot.went_live(msg.pid, now)
        self._index.created(slot.session_id)  # from now on a missing file is a loss
        self._members.went_live(slot, now)
        report = msg.report
        if (getattr(report, "torn_bytes", 0) or getattr(report, "bad_lines", 0)
                or getattr(report, "migrated_from", None)):
            log.warning("session %s opened with repairs: %s", slot.session_key, report)
        if msg.replayed:
            log.warning("session %s replays %d acknowledged turns", slot.session_key, len(msg.replayed))
        self._flush_held(slot)

    def receiveMsg_OwnerWorkerStarted(self, msg: OwnerWorkerStarted, sender) -> None:
        slot = self._slots.of(msg.path, sender)
        if slot is not None:
            slot.worker_pid, slot.heard_time = msg.pid, clock.now()

    def receiveMsg_OwnerActivationFailed(self, msg: OwnerActivationFailed, sender) -> None:
        slot = self._slots.of(msg.path, sender)
        if slot is None:
            return
        slot.expected_exit = True
        self._slots.remove(msg.path)
        if self._members.waits_for_lock(slot, msg.kind, clock.now()):
            # Re-homing after a member was declared gone, but the file is still locked: the
            # old owner is alive after all. It finishes its accepted turns and passivates;
            # until its lock is free we hold everything and try again.
            if slot.lost_owner is not None:
                self.send(slot.lost_owner, PassivateOwner(msg.path))  # released at once if idle
            self.wakeupAfter(REHOME_RETRY_AFTER, payload=RehomeRetry(msg.path))
            return
        if self._members.waits_for_dead_owners_lock(slot, msg.kind, clock.now()):
            log.warning("owner of %s: its dead predecessor's lock is not released yet; trying again",
                        msg.path, extra={"session": slot.session_key})
            self.wakeupAfter(DEAD_LOCK_RETRY_AFTER, payload=RehomeRetry(msg.path))
            return
        detail = msg.message
        if msg.kind == "transcript_missing":
            detail = missing_transcript(slot.session_key, msg.path)
            log.error("%s", detail, extra={"session": slot.session_key})
        else:  # said, so that a session left without an owner is never silent in the log
            log.warning("owner of %s could not activate (%s): %s; %d held messages answered", msg.path,
                        msg.kind, detail, len(slot.held), extra={"session": slot.session_key})
        now = clock.now()
        for held, held_sender in slot.held:
            self.send(getattr(held, "reply_to", None) or held_sender,
                      activation_failed_answer(held, msg.kind, detail, now))

    def receiveMsg_OwnerIdle(self, msg: OwnerIdle, sender) -> None:
        slot = self._slots.of(msg.path, sender)
        if slot is not None and slot.state == SlotState.LIVE:
            slot.heard_time, slot.state = clock.now(), SlotState.PASSIVATING
            self._owner_moved(msg.path)
            self.send(sender, PassivateOwner(msg.path))
        elif slot is None:
            # An owner this Directory no longer tracks (its member was declared gone, but it
            # lived): let it release the file; it only goes if it is idle.
            self.send(sender, PassivateOwner(msg.path))

    def receiveMsg_PassivationRefused(self, msg: PassivationRefused, sender) -> None:
        slot = self._slots.of(msg.path, sender)
        if slot is not None:
            slot.state, slot.heard_time = SlotState.LIVE, clock.now()
            self._flush_held(slot)

    def receiveMsg_OwnerPassivated(self, msg: OwnerPassivated, sender) -> None:
        # The owner has released the file; anything held goes to a fresh owner at once.
        self._retire(msg.path, sender)

    def receiveMsg_OwnerFenced(self, msg: OwnerFenced, sender) -> None:
        self._fenced.append(msg.path)
        del self._fenced[:-100]
        self._retire(msg.path, sender, end=True)

    def _retire(self, path: str, sender, *, end: bool = False) -> None:
        slot = self._slots.of(path, sender)
        if slot is None:
            return
        slot.expected_exit = True
        self._slots.remove(path)
        self._owner_moved(path)
        if end:
            self.send(sender, ActorExitRequest())
        if slot.held:
            self._activate(self._index.get(slot.session_key), path, held=slot.held)

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender) -> None:
        if self._factory is not None and msg.childAddress == self._factory:
            self._factory_exited()
            return
        self._owner_exited(msg.childAddress)

    def receiveMsg_OwnerExited(self, msg: OwnerExited, sender) -> None:
        if sender == self._factory:  # the factory tells what Thespian tells an owner's parent
            self._owner_exited(msg.address)

    def _owner_exited(self, address) -> None:
        if self._spares.forget(address):  # a spare died before any session took it
            self._arm_refill()
            return
        slot = self._slots.of_address(address)
        if slot is None or slot.expected_exit:
            return
        if slot.exit_was_passivation(self._unfinished_turns(slot)):
            self._retire(slot.path, slot.address)
            return
        # An owner died under us (killed, crashed, or replaced): end its worker too, and
        # start a new owner at once so acknowledged turns are replayed.
        self._lost(slot, "it exited unexpectedly")

    def _unfinished_turns(self, slot: OwnerSlot) -> int:
        accepted, finished = read_inbox(self._store.sidecar_path(slot.path, ".inbox"))
        return sum(1 for turn in accepted if turn.turn_id not in finished)

    def _lost(self, slot: OwnerSlot, why: str) -> None:
        """An owner is gone (dead, or ended because it was wedged): start its successor at
        once, after a backoff, or park the session, as ``liveness.next_replacement`` says."""
        if slot.member == self._members.own:
            # The worker was forked by the owner and shares its open transcript, and so its
            # lock: the successor could not take the file while the worker still exists.
            sigkill(slot.worker_pid, wait=2.0)
        slot.expected_exit = True
        self._owner_moved(slot.path)
        decision = self._replacements.after_loss(slot.path, clock.now())
        if isinstance(decision, liveness.Park):
            self._park(slot, f"{decision.reason} (the last because {why})")
        elif decision.delay <= 0:
            log.error("owner of %s (pid %s): %s; starting a new one", slot.path, slot.pid, why,
                      extra={"session": slot.session_key})
            self._restart(slot).replaces_dead_since = clock.now()
        else:
            log.error("owner of %s (pid %s): %s; a new one starts in %.1f s (backoff)", slot.path, slot.pid,
                      why, decision.delay, extra={"session": slot.session_key})
            slot.back_off()
            self.wakeupAfter(decision.delay, payload=RestartDue(slot.path))

    def _check_processes(self) -> None:
        """Death is also what the process table says: a local owner whose process is gone is
        replaced now, even if Thespian's exit notice never comes (seen once in a few hundred
        runs: a SIGKILLed owner's turns then waited forever when recovery was off)."""
        for slot in self._slots.local_processes(self._members.own, os.getpid()):
            if not running(slot.pid) and self._slots.get(slot.path) is slot:
                self._lost(slot, "its process is gone (seen in the process table)")

    def _park(self, slot: OwnerSlot, reason: str) -> None:
        """Stop restarting the file: every turn waiting on it fails ``parked``, now."""
        now = clock.now()
        self._slots.remove(slot.path)
        parked = self._replacements.park(slot.session_key, slot.path, reason, now)
        log.error("session %s parked: %s; its turns fail with reason 'parked' until an admin runs "
                  "`sessionward unpark %s`", slot.session_key, reason, slot.session_key,
                  extra={"session": slot.session_key})
        record = self._index.get(slot.session_key) or self._record(slot.session_key)
        waiting = slot.held + slot.forward_again()
        for msg, sender in waiting:
            reply_to = getattr(msg, "reply_to", None) or sender
            if reply_to is not None:
                self.send(reply_to, parked_answer(msg, parked, record, now))
        # Turns its owners acknowledged and never finished: their submitters are told now.
        accepted, finished = read_inbox(self._store.sidecar_path(slot.path, ".inbox"))
        told = {getattr(m, "request_id", None) for m, _ in waiting}
        for reply_to, outcome in unfinished_turns_parked(slot.session_key, reason, accepted, finished, told, now):
            self.send(reply_to, outcome)

    # -- the convention -----------------------------------------------------------------------

    def receiveMsg_ActorSystemConventionUpdate(self, msg: ActorSystemConventionUpdate, sender) -> None:
        name = (msg.remoteCapabilities or {}).get("sessionward.member")
        if not self._members.is_member_update(name):
            return
        if msg.remoteAdded:
            log.warning("member %s joined (%s)", name, msg.remoteAdminAddress)
            self._members.join(name, msg.remoteAdminAddress)
            where = admin_host_port(msg.remoteAdminAddress)
            if where is None:
                log.warning("member %s: cannot watch admin address %s", name, msg.remoteAdminAddress)
            else:
                cluster = self._members.cluster
                keeper = start_keeper(self, name, cluster)
                self._keepers[name] = keeper
                self.send(self._watch, WatchMember(name, *where, keeper, cluster.member_timeout,
                                                   cluster.heartbeat_every))
            return
        # Thespian reports the member left the convention (it said goodbye, or missed its
        # check-ins).
        self._member_gone(name, "it left the convention")

    def receiveMsg_MemberGone(self, msg: MemberGone, sender) -> None:
        self._member_gone(msg.name, msg.detail)

    def _member_gone(self, name: str, why: str) -> None:
        """Re-home a lost member's sessions on the others (its owners died with it; if one
        did not, its file lock makes the new owner wait until it lets go)."""
        if not self._members.leave(name):
            return
        self._keepers.pop(name, None)
        self.send(self._watch, UnwatchMember(name))
        lost = self._slots.on_member(name)
        log.error("member %s is gone (%s); re-homing %d sessions", name, why, len(lost))
        now = clock.now()
        for slot in lost:
            slot.expected_exit = True
            self._owner_moved(slot.path)
            self._members.rehoming(self._restart(slot), slot, now)
