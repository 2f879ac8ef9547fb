"""The client side of the actor system: a mailbox thread, a sender thread, request ids, and
turn handles.

Thespian's ``ActorSystem`` handle is not thread-safe. A ``Mailbox`` gives one background
thread the system handle, for ``listen`` only: every acceptance, delta and outcome comes
to that one address and is matched to its ``TurnHandle`` by request id. Callers send
through a private context per thread (``sessionward.hosting.senders``), and ask queries there,
matching replies by request id too, so a late reply to a timed-out query is never taken
for the answer to the next one.

Submits are queued and sent by one sender thread, which takes everything queued at once:
under load the submits to one owner go as one message (``sessionward.send_plan``). Every
other send (a query, a command) first waits until what was submitted before it is sent,
so nothing a caller asks overtakes its own submits.

With ``simpleSystemBase`` (everything in this process) the mailbox thread's ``listen`` is
also what runs the actors.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from sessionward import errors, send_plan
from sessionward.actors.messages import (
    Answers,
    ClientRegistered,
    ErrorReply,
    ForStore,
    OutcomeMessage,
    OwnerMoved,
    RegisterClient,
    Route,
    StreamDelta,
    SubmitTurns,
    TurnAccepted,
)
from sessionward.error_kinds import ErrorKind, error_for
from sessionward.errors import SessionwardTimeoutError
from sessionward.hosting.senders import Senders
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.routes import DIRECT_SEND_LIMIT, DirectRoute, DirectSend, Routes

log = logging.getLogger("sessionward.client")

FLUSH_WAIT = 10.0
"""Seconds a query or command waits at most for the submits queued before it to be sent.
A send to an owner is bounded by ``DIRECT_SEND_LIMIT``; one to a frozen Directory is not
(Thespian's 60 s), and a query must not wait for that longer than its own timeout would."""

def new_request_id() -> str:
    return uuid.uuid4().hex


def error_from_reply(reply: ErrorReply) -> errors.SessionwardError:
    """The exception for ``reply`` (the one table is ``sessionward.error_kinds``)."""
    return error_for(reply.kind, reply.message)


def outcome_error(outcome: TurnOutcome) -> errors.SessionwardError:
    """The error for an outcome that is not ``completed``, with the outcome attached.

    ``busy`` -> ``SessionBusyError``, ``parked`` -> ``SessionParkedError``,
    ``provider_error`` -> ``ProviderError``, anything else -> ``TurnFailedError``.
    """
    kind = {OutcomeReason.BUSY: errors.SessionBusyError, OutcomeReason.PARKED: errors.SessionParkedError,
            OutcomeReason.PROVIDER_ERROR: errors.ProviderError}.get(outcome.reason, errors.TurnFailedError)
    reason = outcome.reason.value if outcome.reason is not None else "none"
    err = kind(f"turn {outcome.turn_id or '-'} of {outcome.session_key} {outcome.status.value} "
               f"({reason}){': ' + outcome.detail if outcome.detail else ''}")
    err.outcome = outcome
    return err


class TurnHandle:
    """A submitted turn: wait for its acceptance, its deltas and its final outcome.

    ``result()`` blocks; ``await handle`` waits in asyncio. Thread-safe.
    """

    def __init__(self, request_id: str, session_key: str, on_delta: Callable[[str], None] | None = None,
                 idempotency_key: str | None = None):
        self.request_id = request_id
        self.session_key = session_key
        self.idempotency_key = idempotency_key or request_id
        """Submit again with this key to get this turn's outcome without running it twice."""
        self.turn_id: str | None = None
        self.decision: str | None = None
        self.outcomes: list[TurnOutcome] = []
        """Every outcome received: ``merged`` ones first, then the final one."""
        self.error: errors.SessionwardError | None = None
        self.submitted_time = time.time()
        self._on_delta = on_delta
        self._accepted = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    # called by the mailbox thread
    def _accept(self, msg: TurnAccepted) -> None:
        self.turn_id, self.decision = msg.turn_id, msg.decision
        self._accepted.set()

    def _outcome(self, outcome: TurnOutcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            if self.turn_id is None and outcome.turn_id:
                self.turn_id = outcome.turn_id
            if outcome.final:
                self._finish()

    def _fail(self, error: errors.SessionwardError) -> None:
        with self._lock:
            self.error = error
            self._finish()

    def _delta(self, text: str) -> None:
        if self._on_delta is not None:
            try:
                self._on_delta(text)
            except Exception:
                log.exception("on_delta callback failed")

    def _finish(self) -> None:
        self._accepted.set()
        self._done.set()
        for loop, fut in self._waiters:
            loop.call_soon_threadsafe(_settle, fut, self)
        self._waiters.clear()

    # caller side
    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait_accepted(self, timeout: float | None = None) -> bool:
        """True once the turn was accepted (or refused, or failed)."""
        return self._accepted.wait(timeout)

    def result(self, timeout: float | None = None, *, raise_on_failure: bool = False) -> TurnOutcome:
        """The final outcome.

        Args:
            timeout: Seconds to wait (None: as long as it takes).
            raise_on_failure: Raise for an outcome other than ``completed`` instead of
                returning it (see ``outcome_error``); the outcome is the error's ``outcome``.

        Raises:
            SessionwardTimeoutError: no final outcome within ``timeout`` seconds (also a
                builtin ``TimeoutError``).
            SessionwardError: the request itself was refused (bad key, owned elsewhere, ...).
            SessionBusyError, SessionParkedError, ProviderError, TurnFailedError: with
                ``raise_on_failure``, the turn did not complete.
        """
        if not self._done.wait(timeout):
            raise SessionwardTimeoutError(f"turn {self.turn_id or self.request_id} has no outcome after {timeout}s")
        if self.error is not None:
            raise self.error
        outcome = self.outcomes[-1]
        if raise_on_failure and outcome.status is not TurnStatus.COMPLETED:
            raise outcome_error(outcome)
        return outcome

    def __await__(self):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            if self._done.is_set():
                _settle(fut, self)
            else:
                self._waiters.append((loop, fut))
        return fut.__await__()

    def __repr__(self) -> str:
        state = self.outcomes[-1].status.value if self.done and self.outcomes else "pending"
        return f"<TurnHandle {self.session_key} turn={self.turn_id} {state}>"


def _settle(fut: asyncio.Future, handle: TurnHandle) -> None:
    if fut.done():
        return
    if handle.error is not None:
        fut.set_exception(handle.error)
    else:
        fut.set_result(handle.outcomes[-1])


class Mailbox:
    """The client's receiving address and its listener thread."""

    def __init__(self, system, directory, *, simple: bool, accept_timeout: float | None = None,
                 system_id: str | None = None) -> None:
        self._system = system
        self._directory = directory
        self._system_id = system_id
        """Every request to the Directory names this system (``ForStore``), when set."""
        self._simple = simple
        self._accept_timeout = accept_timeout
        self._unaccepted: collections.deque[tuple[float, TurnHandle]] = collections.deque()
        self._handles: dict[str, TurnHandle] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._senders = Senders(system)
        self._routes = Routes()
        """Direct routes to owners, and direct submits not yet acknowledged (``sessionward.routes``)."""
        reply = self._system.ask(directory, self._for_store(directory, RegisterClient(new_request_id())), 30)
        if isinstance(reply, ErrorReply):
            raise error_from_reply(reply)
        if not isinstance(reply, ClientRegistered):
            raise errors.CoordinationError(f"the actor system did not answer (got {reply!r})")
        self.address = reply.address
        self._outbox: list[Any] = []
        self._outbox_changed = threading.Condition()
        self._queued = self._sent = 0  # submits queued and sent so far (the flush barrier)
        self._again: list[Any] = []
        """Direct submits the mailbox thread found must go again through the Directory; the
        sender thread sends them before anything queued (``send_plan.plan``). Under ``_lock``."""
        self._thread = threading.Thread(target=self._run, name="sessionward-mailbox", daemon=True)
        self._thread.start()
        self._sender = threading.Thread(target=self._send_queued, name="sessionward-sender", daemon=True)
        self._sender.start()

    def track(self, handle: TurnHandle) -> None:
        with self._lock:
            self._handles[handle.request_id] = handle
            if self._accept_timeout is not None:
                self._unaccepted.append((time.monotonic() + self._accept_timeout, handle))

    def _expire_unaccepted(self) -> None:
        """Fail handles that got no acknowledgement in time (the Directory is unreachable).

        Handles are tracked in submit order, so only the head of the deque is looked at.
        """
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._unaccepted:
                    return
                deadline, handle = self._unaccepted[0]
                settled = handle.wait_accepted(0) or handle.done
                if not settled and deadline > now:
                    return
                self._unaccepted.popleft()
                expired = not handle.wait_accepted(0) and not handle.done
                if expired:
                    self._handles.pop(handle.request_id, None)
            if expired:
                handle._fail(errors.UnavailableError(
                    f"no acknowledgement for the turn within {self._accept_timeout}s: the actor system is "
                    f"unreachable. It may still run: submit again with idempotency_key="
                    f"{handle.idempotency_key!r} to learn its outcome."))

    def pending(self) -> list[TurnHandle]:
        with self._lock:
            return list(self._handles.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._system.listen(0.05)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("mailbox listen failed")
                self._stop.wait(0.05)
                continue
            if self._unaccepted:
                self._expire_unaccepted()
            if self._routes.waiting:
                with self._lock:
                    self._hand_again(self._routes.due(time.monotonic()))
            if msg is None:
                if self._simple:
                    self._stop.wait(0.001)  # simple base: listen returns at once when idle
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, Answers):
            for answer in msg.answers:
                self._dispatch(answer)
            return
        if isinstance(msg, OwnerMoved):
            with self._lock:
                self._hand_again(self._routes.moved(msg.path))
            return
        if isinstance(msg, OutcomeMessage):
            request_id = msg.outcome.request_id
        else:
            request_id = getattr(msg, "request_id", None)
        with self._lock:
            handle = self._handles.get(request_id)
            if isinstance(msg, ErrorReply) and msg.kind == ErrorKind.NOT_OWNER:
                # Never the caller's error: the submit goes through the Directory (now, or
                # already did when its route was found stale another way).
                again, msg = self._routes.refused(request_id), None
                self._hand_again([again] if again is not None else [])
            else:
                self._routes.answered(request_id)
            if isinstance(msg, TurnAccepted) and msg.owner is not None and msg.route is not None \
                    and handle is not None:
                self._routes.learn(handle.session_key, DirectRoute(msg.owner, msg.route.path, msg.route.epoch))
            if handle is not None and (route := self._routes.get(handle.session_key)) is not None:
                self._routes.heard_from(route.path, time.monotonic())
        if handle is None or msg is None:
            return
        if isinstance(msg, TurnAccepted):
            handle._accept(msg)
        elif isinstance(msg, StreamDelta):
            handle._delta(msg.text)
        elif isinstance(msg, OutcomeMessage):
            handle._outcome(msg.outcome)
            if msg.outcome.final:
                with self._lock:
                    self._handles.pop(request_id, None)
        elif isinstance(msg, ErrorReply):
            handle._fail(error_from_reply(msg))
            with self._lock:
                self._handles.pop(request_id, None)

    # -- sending, from any thread ------------------------------------------------------------

    def _context(self):
        return self._senders.context()

    def _for_store(self, target, msg) -> Any:
        if self._system_id is not None and target == self._directory:
            return ForStore(self._system_id, msg)
        return msg

    def tell(self, target, msg) -> None:
        """Send ``msg`` once the submits queued before it are sent."""
        self.flush()
        self._tell_now(target, msg)

    def _tell_now(self, target, msg) -> None:
        self._context().tell(target, self._for_store(target, msg))

    # -- direct routes (issue 17 item 1; the rules are in ``sessionward.routes``) ------------

    def route(self, session_key: str) -> DirectRoute | None:
        """The owner of ``session_key`` as it last answered, if known."""
        with self._lock:
            return self._routes.get(session_key)

    def forget_route(self, session_key: str) -> None:
        with self._lock:
            self._routes.forget(session_key)

    def submit(self, msg) -> None:
        """Queue a ``SubmitTurn``; the sender thread sends it (``_send_queued``)."""
        with self._outbox_changed:
            if self._stop.is_set():
                raise errors.RuntimeClosedError("the runtime is closed")
            self._outbox.append(msg)
            self._queued += 1
            self._outbox_changed.notify_all()

    def flush(self, timeout: float = FLUSH_WAIT) -> bool:
        """Wait until every submit queued so far is sent (or sent again through the
        Directory). True if it was within ``timeout``."""
        if threading.current_thread() is self._sender:
            return True
        with self._outbox_changed:
            queued = self._queued
            return self._outbox_changed.wait_for(lambda: self._sent >= queued, timeout)

    def _send_queued(self) -> None:
        """The sender thread: take every queued submit at once and send it as planned
        (``sessionward.send_plan``); at close, send what is left, then end."""
        while True:
            with self._outbox_changed:
                self._outbox_changed.wait_for(lambda: self._outbox or self._again or self._stop.is_set())
                taken, self._outbox = self._outbox, []
            if not taken and not self._again:
                return  # stopped, nothing left
            try:
                self._send_submits(taken)
            except Exception as exc:  # never lose the thread, nor leave a caller waiting for nothing
                log.exception("sending %d submits failed", len(taken))
                self._fail_unsent(taken, exc)
            with self._outbox_changed:
                self._sent += len(taken)
                self._outbox_changed.notify_all()

    def _send_submits(self, submits: list[Any]) -> None:
        with self._lock:
            again, self._again = self._again, []
            try:
                steps = send_plan.plan(self._routes, submits, time.monotonic(), self._direct_copy, again=again)
            except Exception:
                self._again[:0] = again  # sent again by a later pass; the new ones fail below
                raise
        for step in steps:
            if isinstance(step, send_plan.ThroughDirectory):
                self._tell_directory(step.submit)
                continue
            batch = step.submits[0] if len(step.submits) == 1 else SubmitTurns(step.submits)
            state = self._direct(step.route.address, batch)
            with self._lock:
                if state is DirectSend.DELIVERED:  # its process took the frame: alive now
                    self._routes.heard_from(step.route.path, time.monotonic())
                again = [m for s in step.submits if (m := self._routes.send_ended(s.request_id, state)) is not None]
            if again:
                log.info("direct send of %d submits to the owner of %s %s; through the directory",
                         len(again), step.route.path, state.value)
            self._through_directory(again)

    @staticmethod
    def _direct_copy(msg, route: DirectRoute):
        return attrs.evolve(msg, route=Route(route.path, route.epoch),
                            idempotency_key=msg.idempotency_key or msg.request_id)

    def _to_directory(self, submit) -> None:
        # A copy of a direct submit still names the route (and so the file) it was sent on.
        path = submit.route.path if submit.route is not None else None
        with self._lock:  # noted first: the answer may come before the send returns
            self._routes.via_directory(submit.request_id, time.monotonic(), path)
        self._tell_directory(submit)

    def _fail_unsent(self, submits: list[Any], exc: Exception) -> None:
        """Fail the handles of submits that were never sent (their plan failed): each gets a
        ``CoordinationError`` now rather than no answer ever. One the routes noted as sent
        is left alone: it may still be answered."""
        with self._lock:
            unsent = [s for s in submits if not self._routes.noted(s.request_id)]
            handles = [h for s in unsent if (h := self._handles.pop(s.request_id, None)) is not None]
        for handle in handles:
            handle._fail(errors.CoordinationError(f"the turn could not be sent: {type(exc).__name__}: {exc}"))

    def _tell_directory(self, submit) -> None:
        """Send a submit through the Directory; if it cannot be sent at all, its handle fails."""
        try:
            self._tell_now(self._directory, attrs.evolve(submit, route=None))
        except Exception as exc:
            log.exception("could not send %s through the directory", type(submit).__name__)
            with self._lock:
                handle = self._handles.pop(submit.request_id, None)
                self._routes.answered(submit.request_id)
            if handle is not None:
                handle._fail(errors.CoordinationError(f"the turn could not be sent: {type(exc).__name__}: {exc}"))

    def _direct(self, owner, msg) -> DirectSend:
        """Send to an owner, waiting at most ``DIRECT_SEND_LIMIT`` for its process (a frozen
        owner must not hold the caller: ``sessionward.routes``)."""
        try:
            return self._senders.bounded_tell(owner, msg, DIRECT_SEND_LIMIT)
        except Exception as exc:  # not sent, or not known to be: the Directory way is safe either way
            log.info("direct send of %s failed: %r", type(msg).__name__, exc)
            self._senders.discard()
            return DirectSend.STALLED

    def ask_owner(self, owner, msg, timeout: float) -> Any:
        """``ask`` an owner directly; None at once if its process did not take the query within
        ``DIRECT_SEND_LIMIT`` (gone or frozen)."""
        self.flush()
        if self._direct(owner, msg) is not DirectSend.DELIVERED:
            return None
        return self._reply_to(self._context(), msg.request_id, timeout)

    def _through_directory(self, messages: list[Any]) -> None:
        """Send direct submits again through the Directory (the sender thread's own sends)."""
        for msg in messages:
            self._to_directory(msg)

    def _hand_again(self, messages: list[Any]) -> None:
        """Hand direct submits to the sender thread, to send again through the Directory
        before anything queued. Called with ``_lock`` held, in the same hold that took them
        from ``Routes`` (and so forgot their route): a plan made after that sees them."""
        if messages:
            self._again.extend(messages)
            with self._outbox_changed:  # lock order: _lock, then _outbox_changed (never the other way)
                self._outbox_changed.notify_all()

    def ask(self, target, msg, timeout: float) -> Any:
        """Send ``msg`` and return the reply with the same request id; None once ``timeout``
        has passed, the send included. A plain ``tell`` to an address whose process is gone
        queues behind Thespian's retries of an earlier send to it: ``Runtime.close`` and
        ``status`` after the Directory was SIGKILLed waited 37 s, whatever their timeout."""
        self.flush()
        deadline = time.monotonic() + timeout
        if self._senders.bounded_tell(target, self._for_store(target, msg), timeout) is not DirectSend.DELIVERED:
            return None  # not taken in time: its process is gone or frozen
        return self._reply_to(self._context(), msg.request_id, deadline - time.monotonic())

    @staticmethod
    def _reply_to(ctx, request_id: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            reply = ctx.listen(remaining)
            if reply is None:
                return None
            if getattr(reply, "request_id", None) == request_id:
                return reply
        return None

    def close(self) -> None:
        with self._outbox_changed:
            self._stop.set()
            self._outbox_changed.notify_all()
        self._sender.join(timeout=5)
        self._thread.join(timeout=5)
        self._senders.close()
