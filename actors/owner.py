"""SessionOwner: the one actor that owns a session file and runs its turns one at a time.

It holds the file's exclusive lock for its whole life, records every accepted turn in the
inbox before acknowledging it, writes every entry itself (after a fence check), and gives
every accepted turn exactly one final outcome. Streams run in a TurnWorker child, reached
over a socket pair (``owner_link``, ``worker_link``), or with ``stream_in = "owner"`` in a
thread of its own (``owner_streams``), so its handlers stay short. It dispatches, decides
through pure modules, sends, and does the file I/O. The deciding modules: ``ledger``
(tickets, riders, idempotency, history, and every ``TurnOutcome``), ``intake`` (what
becomes of a submit), ``lanes.queue_policy`` (which turn runs next), ``streaming`` (stream
events into entries), ``context_feed`` (what a worker is sent), ``activation`` (setup and
replay), ``owner_state`` (phases, stop rules, snapshots, when a turn's fsync is shared).

About 600 lines: what is left is one handler per message, each a few lines that send or
touch the file; splitting them across classes would hide which actor owns the file.
"""

from __future__ import annotations

import os
import pickle
import uuid
from datetime import timedelta
from pathlib import Path

import attrs
from thespian.actors import ActorExitRequest, ChildActorExited, PoisonMessage, ThespianWatch, WakeupMessage

from sessionward import clock
from sessionward.actors import messages as M
from sessionward.actors import owner_state
from sessionward.actors import streaming as S
from sessionward.actors.activation import OwnerSetup, activation_error, on_chosen_member, replay, setup_for
from sessionward.actors.base import GuardedActor
from sessionward.actors.context_feed import ContextFeed
from sessionward.actors.held_answers import ANSWERS_DUE, HeldAnswers
from sessionward.actors.intake import Accepted, Invalid, Refused, Retried, intake
from sessionward.actors.ledger import Delivery, Settlement, Ticket, TurnLedger
from sessionward.actors.owner_link import WorkerOverLink
from sessionward.actors.owner_streams import StreamsInOwner
from sessionward.actors.placement import next_epoch
from sessionward.errors import FencedError
from sessionward.hosting import page_merging
from sessionward.hosting.transmits import unsent, waiting_to
from sessionward.hosting.watches import forget_watches
from sessionward.lanes import queue_policy as qp
from sessionward.logs import ActorLogger
from sessionward.outcomes import OutcomeReason, TurnStatus
from sessionward.providers.base import ProviderRequest
from sessionward.storage import entries as E
from sessionward.storage.inbox import Inbox, InboxTurn
from sessionward.storage.transcript import Durability, TranscriptFile

log = ActorLogger("sessionward.owner")  # resolved per call: see sessionward.logs

START_OWN_WORKER_AFTER = timedelta(milliseconds=1)
"""After an activation with no worker running: when the worker is forked and the first turn
started (one pass of the transport's loop, for the activation's sends to go out)..."""
START_OWN_WORKER_WAITS = 20
"""... and how many times that wait is repeated while a send has not gone out yet."""


class SessionOwner(StreamsInOwner, WorkerOverLink, GuardedActor):
    guard_log = log

    actorSystemCapabilityCheck = staticmethod(on_chosen_member)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._setup = OwnerSetup()
        self._keys: tuple[str, ...] = ()
        self._epoch = 0
        self._directory = self._worker = None
        self._worker_set_up = False
        self._standby: bytes | None = None
        """What a spare's worker was set up with while it stood by (``_worker_setup``)."""
        self._ready_worker_pid = 0
        """A spare's worker's pid from its ``WorkerReady``, which may come before the activation."""
        self._file: TranscriptFile | None = None
        self._inbox: Inbox | None = None
        self._feed = ContextFeed()
        self._queue = qp.SessionQueue()
        self._ledger = TurnLedger("")
        self._current: S.TurnRun | None = None
        self._phase = M.OwnerPhase.STARTING
        self._idle_since = clock.now()
        self._idle_timers: set[type] = set()  # the kinds of idle check now pending: one each at most
        self._pages_offered = False  # this process's pages are offered to KSM (``_offer_pages``)
        self._answers: HeldAnswers | None = None
        """While a ``SubmitTurns`` is taken: what its submitters are answered, sent together
        (one message per submitter) once the batch's inbox lines are fsynced (``_answer``)."""
        self._held = HeldAnswers()  # answers held while one to their submitter waits to be sent
        self._answers_due = False  # an AnswersDue timer is pending
        self._endings: list[tuple] = []
        """Turns ended (their entries written) whose fsync is shared with the next turn's:
        settled (outcome built, inbox ``finished`` line, outcome sent) by ``_settle_synced``."""
        self._sync_due = False  # a SyncDue timer is pending
        self._fork_deferred = False
        """The worker is forked by the StartOwnWorker timer, after the activation's sends: a
        turn started before it runs from then (``_deferred_run``; data-path messages for it
        wait in ``_before_fork``). The turn itself starts at once, so queue policy sees it
        running (a steer, an interrupt or a collect decide as they would)."""
        self._deferred_run: tuple | None = None
        self._before_fork: list = []
        self._for_index: list[Delivery] | None = None
        """Outcomes held until the Directory has written a new key's index entry (a list
        from ``ActivateOwner.index_pending`` until ``IndexFlushed``; None: none held)."""

    def _divert(self, message, sender) -> bool:
        if owner_state.refuses_direct(self._phase, self._setup.path, self._epoch, self._keys, message):
            self._answer(message.reply_to or sender, M.ErrorReply(
                message.request_id, M.ErrorKind.NOT_OWNER, f"this owner does not serve {message.session_key} now"))
            return True
        # A fenced or stopping owner no longer serves its file; the Directory has been told
        # and routes the message to the file's next owner.
        diverted = owner_state.diverts(self._phase, message)
        if diverted:
            self.send(self._directory, message)
        return diverted

    def _route(self) -> M.Route:
        """Where a client may send this session's next messages directly (``sessionward.routes``)."""
        return M.Route(self._setup.path, self._epoch)

    def _log_session(self) -> str | None:
        return self._setup.session_key or self._setup.path or None

    def _log_turn(self) -> str | None:
        return self._current.ticket.turn_id if self._current is not None else None

    def _deliver(self, *deliveries: Delivery | None) -> None:
        if self._for_index is not None:  # a new key's index entry is not on disk yet
            self._for_index.extend(d for d in deliveries if d is not None)
            return
        for d in deliveries:
            if d is not None and d.reply_to is not None:
                self._answer(d.reply_to, M.OutcomeMessage(d.outcome))

    def _answer(self, reply_to, message) -> None:
        """Send a submitter its answer; or keep it for the ``Answers`` of the batch being
        taken; or hold it while an earlier one is on its way to that submitter (``held_answers``)."""
        if self._answers is not None:
            self._answers.hold(reply_to, message)
        elif self._phase not in (M.OwnerPhase.IDLE, M.OwnerPhase.RUNNING):
            # Stopping, fenced or draining, this owner may be ended any moment: nothing is held
            # (what was goes first), so no answer is left to the sends made as it exits.
            self._send_answers(self._held.all())
            self.send(reply_to, message)
        elif not self._held.offer(reply_to, message, waiting_to(self, reply_to)):
            self.send(reply_to, message)

    def _send_answers(self, groups) -> None:
        for reply_to, group in groups:
            self.send(reply_to, self._together(group))

    @staticmethod
    def _together(group):
        """One message for a submitter's answers: the answer itself, or one flat ``Answers``
        (a batch's ``Answers`` held behind others is opened, never nested)."""
        flat = tuple(a for item in group for a in (item.answers if isinstance(item, M.Answers) else (item,)))
        return flat[0] if len(flat) == 1 else M.Answers(flat)

    def receiveMessage(self, message, sender):
        watch = super().receiveMessage(message, sender)
        link = self._link_watch()
        if link:  # the worker's link is watched for as long as it is open
            watch = ThespianWatch(link + list(watch.filenos if watch is not None else ()))
        if self._held:  # after every handler: what was held and may go now goes
            try:
                self._send_answers(self._held.due(lambda address: waiting_to(self, address)))
                if self._held and not self._answers_due:
                    self._answers_due = True
                    self.wakeupAfter(ANSWERS_DUE, payload=M.AnswersDue())
            except Exception:  # never into Thespian: it would run the message again
                log.exception("owner %s could not send held answers", self._setup.path)
        return watch

    # -- activation ------------------------------------------------------------------------

    def receiveMsg_ActivateOwner(self, msg: M.ActivateOwner, sender) -> None:
        self._directory, self._setup = sender, setup_for(msg)
        if self._worker_set_up and self._standby != _worker_setup(
                msg.provider, msg.config.stream_batch_window, msg.config.stream_batch_max):
            # Stood by with another set-up: set the worker up again before any turn runs (a
            # replayed turn starts below), so that its StartWorker comes before that RunTurn.
            self._worker_set_up = False
        self._for_index = [] if msg.index_pending else None
        self._ledger = TurnLedger(msg.session_key)
        self._keys = msg.keys or (msg.session_key,)
        now = clock.now()
        path = Path(msg.path)
        side = Path(msg.sidecar_dir) if msg.sidecar_dir else path.parent
        try:
            self._file, report = TranscriptFile.open(
                path, header=E.header(msg.session_id, cwd=msg.config.cwd, now=now),
                durability=msg.config.durability, create=msg.create, sidecar_dir=side)
        except Exception as exc:
            kind = activation_error(exc)
            if kind is None:
                raise
            self.send(sender, M.OwnerActivationFailed(msg.path, kind, str(exc)))
            self._stop()
            return
        self._inbox = Inbox(side / (path.name + ".inbox"), fsync=msg.config.durability is not Durability.NEVER)
        # Each activation takes the next epoch of its file and writes it on every entry, so
        # a late write by a superseded owner is visible from the file alone.
        self._epoch = next_epoch(self._file.entries)
        # Turns a previous owner acknowledged and never finished: re-queued, or failed.
        accepted, finished = self._inbox.load()
        steps = replay(self._file.entries, accepted, finished, self._ledger, self._queue, now,
                       policy=msg.config.replay_policy, fail_as=msg.fail_unfinished_as, after_loss=msg.after_loss)
        self._queue = steps.queue
        for closing in steps.closings:
            self._append([self._turn_end(closing.turn, closing.status, closing.reason, now)])
        self._deliver(*steps.deliveries)
        self._file.sync()
        if accepted:  # compact the inbox to what is still pending (nothing to do when empty)
            self._inbox.rewrite(list(steps.pending))
        self._phase, self._idle_since = M.OwnerPhase.IDLE, now
        self.send(sender, M.OwnerActivated(msg.path, os.getpid(), report, tuple(t.turn_id for t in steps.pending)))
        self._maybe_start_next()  # a replayed turn starts its worker at once
        if self._streams_here():
            if self._worker is not None:  # a spare's, started while it stood by: not needed
                self.send(self._worker, ActorExitRequest())
                self._worker = None
                self._close_link()
        elif self._worker is not None:  # a spare's, started (and maybe set up) while it stood by
            self._ensure_worker()
        else:
            # Forked, and the first turn started, on a 1 ms timer: by then OwnerActivated and
            # the TurnAccepted of a carried submit are out (a handler's sends wait for it to
            # return, and a fork here would wait with them: 4-8 ms measured). Not a message
            # to itself: Thespian runs those before it services any socket (see worker._pump).
            self._fork_deferred = True
            self.wakeupAfter(START_OWN_WORKER_AFTER, payload=M.StartOwnWorker())
        self._arm_idle_timer()
        for carried in msg.carried:  # each as if it came next (guarded one by one)
            GuardedActor.receiveMessage(self, carried, sender)
        if self._ready_worker_pid and self._worker is not None:
            # A spare's worker was ready before there was a Directory to tell; told after the
            # carried turns' answers (the Directory can wait).
            self.send(sender, M.OwnerWorkerStarted(self._setup.path, self._ready_worker_pid))

    def _turn_end(self, turn: InboxTurn | Ticket, status: TurnStatus, reason: OutcomeReason | None, now: float,
                  pending: list[dict] | None = None) -> dict:
        return S.turn_end(turn.turn_id, turn.idempotency_key, status, reason, now, self._entry_context(), pending)

    def _entry_context(self) -> S.EntryContext:
        return S.EntryContext(self._file.ids, self._file.leaf_id, self._setup.identity)

    # -- submit ------------------------------------------------------------------------------

    def receiveMsg_SubmitTurn(self, msg: M.SubmitTurn, sender) -> None:
        self._take_submit(msg, sender, sync=True)

    def receiveMsg_SubmitTurns(self, msg: M.SubmitTurns, sender) -> None:
        """A client's queued submits to this file, taken in order as if each came alone, with
        one inbox fsync for all and one ``Answers`` per submitter. Every answer is kept
        (``_answer``) until that fsync and sent after it, so the inbox-before-acknowledgement
        rule holds for each. (Thespian may write a send to its socket before the handler
        returns, when the connection to its target is idle: the order here is what keeps
        the rule, not the engine.)"""
        self._answers, recorded = HeldAnswers(), False
        try:
            for submit in msg.submits:
                try:
                    if not self._divert(submit, sender):
                        recorded = self._take_submit(submit, sender, sync=False) or recorded
                except Exception as exc:  # as the guard would answer it alone; the rest go on
                    log.exception("owner %s failed taking a batched submit", self._setup.path)
                    self._answer(submit.reply_to or sender, M.ErrorReply(
                        submit.request_id, M.ErrorKind.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            if recorded and self._inbox is not None:
                self._inbox.sync()
            answers, self._answers = self._answers, None
            for reply_to, group in answers.all():  # one message each, behind any held for it
                self._answer(reply_to, self._together(group))

    def _take_submit(self, msg: M.SubmitTurn, sender, *, sync: bool) -> bool:
        """Take one submit; True if it was recorded in the inbox (accepted)."""
        reply_to, now, key = msg.reply_to or sender, clock.now(), self._setup.session_key
        turn_id = uuid.uuid4().hex[:16]
        decided = intake(msg, reply_to, turn_id, now, draining=self._phase is M.OwnerPhase.DRAINING,
                         setup=self._setup, ledger=self._ledger, queue=self._queue,
                         running=self._current.ticket if self._current else None)
        match decided:
            case Refused(outcome=outcome):
                self._deliver(Delivery(reply_to, outcome))
            case Invalid(message=message):
                self._answer(reply_to, M.ErrorReply(msg.request_id, M.ErrorKind.INVALID_MESSAGE, message))
            case Retried(answer=answer) if not answer.forwarded_again:  # else: a re-forward of a submit held here
                self._answer(reply_to, M.TurnAccepted(msg.request_id, key, answer.turn_id, M.AcceptDecision.DUPLICATE,
                                                      owner=self.myAddress, route=self._route()))
                self._deliver(Delivery(reply_to, answer.outcome) if answer.outcome else None)
            case Accepted(ticket=ticket, admission=admission):
                # Invariant: the turn is in the inbox (fsynced unless durability is 'never')
                # before anyone hears it was accepted. Not synced here only inside a batch,
                # whose handler fsyncs once before it sends any answer (kept until then).
                self._inbox.record_accepted(decided.inbox, sync=sync)
                self._ledger.open(ticket)
                self._queue = admission.queue
                self._answer(reply_to, M.TurnAccepted(msg.request_id, key, turn_id, decided.decision,
                                                      decided.position, ticket.mode, self.myAddress, self._route()))
                if isinstance(admission.decision, qp.Steered):
                    into = admission.decision.into_turn_id
                    if self._local is not None:
                        self._local.control.steer(ticket.text)
                    else:
                        self._to_worker(M.SteerStream(into, ticket.text))
                    self._deliver(self._ledger.merge(turn_id, into, qp.QueueMode.STEER))
                elif isinstance(admission.decision, qp.Interrupting):
                    self._abort_current(OutcomeReason.INTERRUPTED, f"interrupted by turn {turn_id}", now)
                self._maybe_start_next()
                self._arm_collect_timer()
                return True
        return False

    # -- running turns ---------------------------------------------------------------------------

    def _maybe_start_next(self) -> None:
        if self._current is not None or self._phase is not M.OwnerPhase.IDLE:
            return
        now = clock.now()
        taken = qp.take_next(self._queue, policy=self._setup.config.queue, now=now)
        self._queue = taken.queue
        for merged in taken.merged:
            self._deliver(self._ledger.merge(merged.turn_id, merged.into_turn_id, qp.QueueMode.COLLECT))
        for ticket in filter(None, (self._ledger.get(d.turn_id) for d in taken.dropped)):
            self._finish_ticket(ticket, owner_state.DROPPED, "dropped by the collect cap", now)
        if taken.turn is None:
            self._arm_collect_timer()
            return
        ticket = self._ledger.get(taken.turn.turn_id)
        ticket.text = taken.turn.text  # a collect carrier's text holds its riders' texts
        self._start(ticket, now)

    def _start(self, ticket: Ticket, now: float) -> None:
        self._current = S.TurnRun(ticket, now, now)
        self._phase = M.OwnerPhase.RUNNING
        context, written = self._feed.for_turn(self._file.entries, ticket.turn_id, ticket.replayed)
        if not written:
            entry = E.user_entry(ticket.text, turn_id=ticket.turn_id, lane=ticket.lane,
                                 ids=self._file.ids, parent_id=self._file.leaf_id, now=now)
            if not self._append([entry]):
                return
        request = ProviderRequest(self._setup.session_key, ticket.turn_id, ticket.text, (), ticket.lane)
        if self._streams_here():
            self._run_here(ticket.turn_id, attrs.evolve(request, context=context))
            return
        if self._fork_deferred:
            self._deferred_run = (ticket.turn_id, request, context)
            return
        self._ensure_worker()
        self._to_worker(M.RunTurn(ticket.turn_id, request, *self._feed.to_send(context)))

    def _to_worker(self, message) -> None:
        if self._fork_deferred:  # sent after the RunTurn of the turn it is for (_fork_now)
            self._before_fork.append(message)
            return
        super()._to_worker(message)

    def _fork_now(self) -> None:
        """The StartOwnWorker timer: fork the worker, and run the turn started before it."""
        self._fork_deferred = False
        run, self._deferred_run = self._deferred_run, None
        waiting, self._before_fork = self._before_fork, []
        current = self._current.ticket.turn_id if self._current is not None else None
        if self._phase not in (M.OwnerPhase.IDLE, M.OwnerPhase.RUNNING) or self._streams_here():
            return
        self._ensure_worker()
        if run is not None and run[0] == current:
            turn_id, request, context = run
            self._to_worker(M.RunTurn(turn_id, request, *self._feed.to_send(context)))
            for message in waiting:
                if getattr(message, "turn_id", None) == current:
                    self._to_worker(message)

    def receiveMsg_StartOwnWorker(self, msg: M.StartOwnWorker, sender) -> None:
        if self._phase in (M.OwnerPhase.IDLE, M.OwnerPhase.RUNNING) and not self._streams_here():
            self._ensure_worker()

    def receiveMsg_StandBy(self, msg: M.StandBy, sender) -> None:
        if self._phase is not M.OwnerPhase.STARTING or self._worker is not None:
            return
        self._worker, self._worker_set_up = self._new_worker(), False
        self._standby = _worker_setup(msg.provider, msg.batch_window, msg.batch_max)
        if msg.provider is not None and self._standby is not None:
            # Set up now, not at activation: a StartWorker sent there went out beside the
            # activation's own answers, and its worker's set-up competed with them for the
            # CPU. No session file is open yet, so the worker inherits none of its descriptors.
            # (A provider that cannot be pickled, possible on simpleSystemBase, cannot be
            # compared with the activation's: its worker is set up at activation.)
            self._set_up_worker(msg.provider, msg.batch_window, msg.batch_max, ())

    def _ensure_worker(self) -> None:
        """Start a worker if there is none. Done just after activation too, so that a process
        start is not part of the first turn (nor mistaken by recovery for a stalled stream)."""
        if self._worker is not None and self._worker_set_up:
            return
        if self._worker is None:
            self._worker = self._new_worker()
        fds = ((self._file.fileno(), str(self._file.path)), (self._inbox.fileno(), str(self._inbox.path)))
        config = self._setup.config
        self._set_up_worker(self._setup.provider, config.stream_batch_window, config.stream_batch_max, fds)

    def _set_up_worker(self, provider, batch_window: float, batch_max: int, fds: tuple) -> None:
        """Send the worker its ``StartWorker`` (``fds``: the session's descriptors it inherited,
        to close); from then on it holds no context (``ContextFeed``)."""
        self._worker_set_up = True
        self._feed.new_worker()
        self.send(self._worker, M.StartWorker(provider, batch_window, batch_max, fds, os.getpid(), self._link_fds))

    def receiveMsg_StreamBatch(self, msg: M.StreamBatch, sender) -> None:
        current = self._current
        if current is None or current.ticket.turn_id != msg.turn_id:
            return  # a late batch from an aborted turn: ignored by design
        now = clock.now()
        current.stream_seconds = msg.stream_seconds
        step = S.apply_batch(current, msg.events, msg.done, now, self._entry_context())
        ticket = current.ticket
        if step.delta and ticket.want_deltas:
            self.send(ticket.reply_to, M.StreamDelta(ticket.request_id, ticket.turn_id, step.delta))
        if step.end is not None:
            self._end_current(step.entries, step.end, now)
        elif step.entries:
            self._append(step.entries)

    def _end_current(self, pending: list[dict], end: S.TurnEnd, now: float) -> None:
        """End the running turn: write its last entries, start the next turn, and settle it
        once its entries are on disk (``owner_state.shares_sync``: with a turn started after
        it, the fsync waits at most ``shared_fsync_window`` for that turn's own)."""
        current = self._current
        pending.append(self._turn_end(current.ticket, end.status, end.reason, now, pending))
        if not self._append(pending):
            return  # fenced: _fence delivered every outcome
        self._current = None
        self._phase = M.OwnerPhase.IDLE
        self._idle_since = now
        self._endings.append((current.ticket, end.status, end.reason, end.detail, now,
                              current.facts(end.provider_error)))
        self._maybe_start_next()
        durability = self._file.durability if self._file is not None else None
        window = self._setup.config.shared_fsync_window
        if owner_state.shares_sync(durability, window, started_next=self._current is not None,
                                   turn_seconds=now - current.started_time):
            if not self._sync_due:
                self._sync_due = True
                self.wakeupAfter(window, payload=M.SyncDue())
        else:
            self._settle_synced()
        self._arm_idle_timer()

    def _settle_synced(self) -> None:
        """fsync the transcript, then settle the turns that ended before it, in order.
        Called before anything else is settled and before any path that ends owed turns."""
        if not self._endings:
            return
        endings, self._endings = self._endings, []
        if self._file is not None:
            self._file.sync()
        for ticket, status, reason, detail, now, facts in endings:
            self._record_and_send(self._ledger.settle(ticket, status, reason, detail, now, facts))

    def _settle(self, settlement: Settlement) -> None:
        """Settle a turn now (cancelled, dropped, failed unrun): after those ended before it."""
        self._settle_synced()
        self._record_and_send(settlement)

    def _record_and_send(self, settlement: Settlement) -> None:
        """Write the ``finished`` inbox lines, then send the outcomes."""
        for turn_id in settlement.finished:
            self._inbox.record_finished(turn_id, settlement.outcome.status.value, into=settlement.outcome.turn_id)
        self._deliver(*settlement.deliveries)

    def _finish_ticket(self, ticket: Ticket, how: owner_state.Ending, detail: str, now: float) -> None:
        """Give a turn that never ran (or whose file can no longer be written) its outcome."""
        if how.write_end and self._phase is not M.OwnerPhase.FENCED and not self._append(
                [self._turn_end(ticket, how.status, how.reason, now)]):
            return  # an outside write: _fence has given this turn (and every other) its outcome
        self._settle(self._ledger.settle(ticket, how.status, how.reason, detail, now))

    # -- commands, state, worker -----------------------------------------------------------------

    def receiveMsg_AbortTurn(self, msg: M.AbortTurn, sender) -> None:
        reply_to, current = msg.reply_to or sender, self._current
        refusal = owner_state.why_not_abort(current, msg.turn_id)
        if refusal is not None or current is None:
            self.send(reply_to, M.CommandResult(msg.request_id, False, refusal or "", msg.turn_id))
            return
        turn_id = current.ticket.turn_id
        self._abort_current(msg.reason, f"{msg.reason} on request", clock.now())
        self.send(reply_to, M.CommandResult(msg.request_id, True, f"turn {turn_id} aborted", turn_id))
        self._maybe_start_next()

    def _abort_current(self, reason: OutcomeReason, detail: str, now: float) -> None:
        if self._current is not None:
            self._retire_worker(self._current.ticket.turn_id)
            step = S.abort(self._current, reason, detail, now, self._entry_context())
            self._end_current(step.entries, step.end, now)

    def _offer_pages(self) -> None:
        """Idle for ``worker_idle_timeout``: offer this process's pages to the kernel's
        same-page merging, once (``hosting/page_merging.py``: most of an idle owner's private
        memory is copies of the factory's pages, identical again once a turn is over)."""
        self._pages_offered = True
        if not page_merging.allow_merging():
            log.debug("owner %s: this kernel does not take PR_SET_MEMORY_MERGE; pages not offered to KSM",
                      self._setup.path)

    def _retire_worker(self, turn_id: str | None) -> None:
        """End the worker (and stop ``turn_id``'s stream first): a hung provider thread dies
        with its process. The next turn starts a new one (``_ensure_worker``). A stream in
        this process is cancelled and left behind (``owner_streams``)."""
        self._stop_here()
        if self._worker is not None:
            if turn_id is not None:
                self._to_worker(M.StopStream(turn_id))
            self.send(self._worker, ActorExitRequest())
            self._worker = None
        self._close_link()  # the worker also stops on its end of file

    def receiveMsg_CancelTurn(self, msg: M.CancelTurn, sender) -> None:
        self._queue, found = qp.cancel(self._queue, msg.turn_id)
        ticket = self._ledger.get(msg.turn_id) if found else None
        if ticket is not None:
            self._finish_ticket(ticket, owner_state.CANCELLED, "cancelled on request", clock.now())
        detail = f"turn {msg.turn_id} cancelled" if ticket else f"turn {msg.turn_id} is not queued"
        self.send(msg.reply_to or sender, M.CommandResult(msg.request_id, ticket is not None, detail, msg.turn_id))

    def receiveMsg_NudgeTurn(self, msg: M.NudgeTurn, sender) -> None:
        reply_to = msg.reply_to or sender
        ok = self._current is not None and self._current.ticket.turn_id == msg.turn_id
        if ok and self._local is not None:
            self._local.control.ping()
        elif ok:
            self._to_worker(M.PingStream(msg.turn_id))
        self.send(reply_to, M.CommandResult(msg.request_id, ok, "nudged" if ok else "stale", msg.turn_id))

    def receiveMsg_QueryOwnerState(self, msg: M.QueryOwnerState, sender) -> None:
        self.send(msg.reply_to or sender, owner_state.snapshot(
            self._setup, self._keys, self._epoch, self._phase, self._current, self._queue, self._ledger,
            pid=os.getpid(), now=clock.now(), request_id=msg.request_id, include_history=msg.include_history))

    def receiveMsg_WorkerReady(self, msg: M.WorkerReady, sender) -> None:
        if self._worker is None or sender != self._worker:
            return
        self._ready_worker_pid = msg.pid  # a spare's, told to the Directory at activation
        if self._directory is not None:
            self.send(self._directory, M.OwnerWorkerStarted(self._setup.path, msg.pid))
            if self._current is not None:
                # A worker (re)started under a waiting turn: its start-up was not a stall.
                self._current.last_progress_time = clock.now()

    def receiveMsg_WatchMessage(self, msg, sender) -> None:
        if self._link_ready(msg.ready):
            self._read_link()
        self._wake_ready(msg.ready)

    def receiveMsg_KeysChanged(self, msg: M.KeysChanged, sender) -> None:
        self._keys = msg.keys

    # -- fence, idle, collect, passivation, exit -------------------------------------------------

    def _append(self, entries: list[dict]) -> bool:
        """Append, or on an outside write stop the session as ``fenced``. True if written."""
        if self._phase is M.OwnerPhase.FENCED:
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
        log.error("session %s fenced: %s", self._setup.session_key, detail)
        self._phase = M.OwnerPhase.FENCED
        self._end_owed(owner_state.FENCE, detail, clock.now())
        self._release_for_index()
        self._send_answers(self._held.all())
        self._close_files()
        # The Directory ends this actor once it knows (see ``Directory._retire``): exiting
        # here could drop a message it forwarded before it heard.
        self.send(self._directory, M.OwnerFenced(self._setup.path, detail))

    def _arm_idle_timer(self) -> None:
        if self._current is None and qp.depth(self._queue) == 0:
            config = self._setup.config
            self._arm_idle_check(M.IdleCheck, config.idle_timeout)
            self._arm_idle_check(M.WorkerIdleCheck, config.worker_idle_timeout)

    def _arm_idle_check(self, kind: type, timeout: float) -> None:
        # One pending timer per kind, re-armed for what is left when it fires early: every
        # turn that went idle used to add two, and each pending timer costs the transport
        # loop on every pass and a handler call when it fires.
        if kind not in self._idle_timers:
            self._idle_timers.add(kind)
            self.wakeupAfter(owner_state.idle_check_after(self._idle_since, timeout, clock.now()), payload=kind())

    def _arm_collect_timer(self) -> None:
        wake = qp.next_wakeup(self._queue)
        if wake is not None:
            self.wakeupAfter(max(0.0, wake - clock.now()) + 0.001, payload=M.CollectDue())

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        config, now, payload = self._setup.config, clock.now(), msg.payload
        if isinstance(payload, M.CollectDue):
            self._maybe_start_next()
            return
        if isinstance(payload, M.AnswersDue):
            self._answers_due = False  # receiveMessage sends what may go, and re-arms
            return
        if isinstance(payload, M.PumpStream):
            self._pump_here(payload.turn_id, timed=True)
            return
        if isinstance(payload, M.FlushLink):
            self._flush_link()
            return
        if isinstance(payload, M.SyncDue):
            self._sync_due = False
            self._settle_synced()
            return
        if isinstance(payload, M.StartOwnWorker):
            if unsent(self) and payload.waited < START_OWN_WORKER_WAITS:
                self.wakeupAfter(START_OWN_WORKER_AFTER, payload=M.StartOwnWorker(payload.waited + 1))
            else:
                self._fork_now()
            return
        self._idle_timers.discard(type(payload))
        idle = owner_state.is_idle(self._phase, self._current, self._queue)
        if isinstance(payload, M.WorkerIdleCheck):
            if owner_state.retires_worker(self._phase, self._current, self._queue, has_worker=self._worker is not None,
                                          idle_since=self._idle_since, timeout=config.worker_idle_timeout, now=now):
                self._retire_worker(None)
            own_process = self._can_watch()  # Thespian's multiproc bases: an actor is a process
            if owner_state.offers_pages(self._phase, self._current, self._queue, enabled=config.merge_idle_pages,
                                        offered=self._pages_offered, own_process=own_process,
                                        idle_since=self._idle_since, timeout=config.worker_idle_timeout, now=now):
                self._offer_pages()
            elif idle and (self._worker is not None or owner_state.may_offer_pages(
                    enabled=config.merge_idle_pages, offered=self._pages_offered, own_process=own_process)):
                self._arm_idle_check(M.WorkerIdleCheck, config.worker_idle_timeout)  # idle again since it was set
        elif isinstance(payload, M.IdleCheck) and idle:
            if owner_state.idle_for(self._idle_since, config.idle_timeout, now):
                self.send(self._directory, M.OwnerIdle(self._setup.path))
            else:
                self._arm_idle_check(M.IdleCheck, config.idle_timeout)

    def receiveMsg_PassivateOwner(self, msg: M.PassivateOwner, sender) -> None:
        if not owner_state.is_idle(self._phase, self._current, self._queue):
            self.send(sender, M.PassivationRefused(self._setup.path))
            return
        self.send(sender, M.OwnerPassivated(self._setup.path))
        self._stop()

    def receiveMsg_LeaseLost(self, msg, sender) -> None:
        """Cut off from the leader (``actors/lease_keeper.py``): end the running turn as
        ``lease_lost`` while the lock is ours; the queued ones stay in the inbox for the next owner."""
        if self._phase not in (M.OwnerPhase.STOPPING, M.OwnerPhase.FENCED) and self._file is not None:
            log.error("session %s: %s; ending its running turn and releasing the file", self._setup.session_key,
                      msg.detail, extra={"session": self._setup.session_key})
            self._queue, _ = qp.drain(self._queue)  # nothing may start after the abort below
            self._abort_current(OutcomeReason.LEASE_LOST, msg.detail, clock.now())
            if self._phase is not M.OwnerPhase.FENCED:
                self._stop()

    def receiveMsg_IndexFlushed(self, msg: M.IndexFlushed, sender) -> None:
        self._release_for_index()

    def _release_for_index(self) -> None:
        """Send the outcomes held for the index (also as this owner ends: its answers must
        not be lost with it; the Directory writes the index as it ends, too)."""
        held, self._for_index = self._for_index, None
        if held:
            self._deliver(*held)

    def _stop(self) -> None:
        """Release the files and end this owner (nothing is owed)."""
        self._settle_synced()
        self._release_for_index()
        self._phase = M.OwnerPhase.STOPPING
        self._send_answers(self._held.all())
        self._close_files()
        self.send(self.myAddress, ActorExitRequest())

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        # Nobody is left waiting: every accepted turn gets an outcome before the owner ends.
        self._settle_synced()
        if self._phase not in (M.OwnerPhase.STOPPING, M.OwnerPhase.FENCED) and self._file is not None:
            self._phase = M.OwnerPhase.DRAINING
            self._end_owed(owner_state.SHUT_DOWN, "the runtime shut down", clock.now())
        self._release_for_index()
        self._send_answers(self._held.all())
        self._close_files()
        self._close_wake_pipe()
        self._close_link()
        # Thespian keeps the last handler's watch list while an exit drains: a closed number
        # left there crashes the drain once a new socket reuses it (hosting/watches.py).
        forget_watches(self)

    def _end_owed(self, how: owner_state.Ending, detail: str, now: float) -> None:
        """End every turn that still owes an outcome (the running one first), and the queue.
        Turns that ended and wait for their fsync are settled first, as they ended."""
        self._settle_synced()
        current = self._current
        if current is not None:
            self._retire_worker(current.ticket.turn_id)
        for ticket in self._ledger.owed(current.ticket if current else None):
            if how.write_end and current is not None and ticket is current.ticket and current.content:
                self._append([S.close_message(current, "aborted", now, self._entry_context(), [])])
            if how.write_end and self._phase is M.OwnerPhase.FENCED:
                break  # an append met an outside write: _fence gave every turn its outcome
            self._finish_ticket(ticket, how, detail, now)
        self._current = None
        self._queue, _ = qp.drain(self._queue)

    def _close_files(self) -> None:
        for held in (self._file, self._inbox):
            if held is not None:
                held.close()
        self._file, self._inbox = None, None

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender) -> None:
        if self._worker is not None and msg.childAddress == self._worker:
            running = self._current.ticket.turn_id if self._current is not None else None
            self._worker = None
            self._read_dead_link()  # what it sent before it died: its turn may have ended there
            if self._current is not None and self._current.ticket.turn_id == running:
                # The worker died under a running turn: fail it rather than wait forever.
                self._end_current([], S.WORKER_EXITED, clock.now())
        if self._worker is None and self._directory is not None:
            # No worker now (retired, or dead): the Directory forgets its pid, which the
            # system may give to another process before this owner is ever killed.
            self.send(self._directory, M.OwnerWorkerStarted(self._setup.path, 0))

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender) -> None:
        log.warning("owner %s could not deliver %s", self._setup.path, type(msg.poisonMessage).__name__,
                    extra={"session": self._setup.session_key})
        if isinstance(msg.poisonMessage, M.OwnerIdle) and owner_state.is_idle(self._phase, self._current, self._queue):
            # Our Directory is gone (a convention's leader died): nobody will tell us to
            # passivate, and the Directory that replaces it must be able to take the file.
            self._stop()


def _worker_setup(provider, batch_window: float, batch_max: int) -> bytes | None:
    """A worker's set-up, comparable: pickled, since a provider object need not define ``==``
    (the two sides of the comparison are unpickled copies of the Directory's one provider).
    None if it cannot be pickled; on simpleSystemBase the two sides are the Directory's one
    object, and a provider that counts its streams pickles differently once it has run one."""
    try:
        return pickle.dumps((provider, batch_window, batch_max), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None
