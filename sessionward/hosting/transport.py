"""Thespian's TCP transport with authenticated frames, an allow-list, a cheaper poll, and
messages to each address sent one at a time in the order sent.

Thespian 4.0.1's ``TCPTransport`` unpickles every frame any peer sends. This subclass,
installed by ``sessionward.hosting.system`` as the transport of ``multiprocTCPBase``, seals every
frame it sends and opens every frame it receives with a shared secret
(``sessionward.hosting.frames``): a frame whose HMAC does not verify is never unpickled; it is
dropped, a rejection notice is sent back, the connection is closed, and one line is
logged (peer address and reason), within a log budget so a flood cannot fill the disk.

How it is wired into Thespian, and why it is safe when Thespian's code changes:

- **Nothing in TCPTransport.py can unpickle.** ``install()`` replaces that module's
  ``serializer`` global (its only deserializer, used by every ``ReceiveBuffer`` it builds:
  incoming sockets, idle sockets, ACK buffers, trailing data) with one whose ``loads``
  only wraps the bytes in a ``Sealed`` box. The two methods that consume received frames
  (``_addedDataToIncoming`` for messages, ``_check_XMIT_4_done`` for ACKs and messages
  that arrive while waiting for one) are overridden here to open the box: verify, then
  ``pickle.loads``. Any other path, now or in a later Thespian, would see a ``Sealed``
  object, fail, and execute nothing.
- **Every frame sent is sealed**: messages (``serializer``), ACKs and data-error ACKs
  (the module constants ``ackMsg``/``ackDataErrMsg`` are replaced by sealed copies in the
  two overridden methods).
- **The secret is per transport, not per process**: one client process may talk to
  several systems (an embedded runtime and a daemon). The first transport of a system
  is built in ``ActorSystem(...)``, inside ``system.authenticated(auth)``, which hands it
  the ``TransportAuth``; every endpoint it prepares for the admin, the logger and each
  actor (``prepEndpoint``) and every clone (``external_transport_clone``) carries it, so
  forked actor processes inherit it without any environment variable or argument.
- **Without an ``auth``** (a plain ``ActorSystem("multiprocTCPBase")`` in a process where
  sessionward installed this), frames are plain pickles, as upstream: sessionward's own
  systems always pass one.

It also swaps the ``selectors`` module seen by TCPTransport.py for one whose
``DefaultSelector`` is ``KeptPollSelector`` (issue 17 item 2, docs/thespian-repro/README.md):
the loop builds a new selector on every pass, which with epoll costs
``epoll_create1`` + one ``epoll_ctl`` per socket + ``close`` each time; poll keeps the
registrations in user space and makes one ``poll`` call, and the kept selector also keeps
them from one pass to the next (``sessionward.hosting.kept_selector``).

It sends one message at a time to each address, oldest first (``transmit_order``), which
upstream does not always do, and wakes the next one when one ends; and it keeps a due
transmit's zero delay from being dropped from the loop's ``select`` timeout
(``_nextTransmitStepCheck``). ``docs/thespian-repro/README.md`` has both.

Its loop (``_runWithExpiry``) is upstream's, except that a kept-open connection is
looked at only when it is readable or once a second (``sessionward.hosting.transport_loop``).

The two overridden receiving methods copy Thespian 4.0.1's bodies with the changes marked
``# sessionward:``; ``tests/test_transport.py`` pins the upstream source they copy, so a
Thespian upgrade that changes them fails a test instead of passing silently.
"""

from __future__ import annotations

import logging
import pickle
import selectors
import socket
import threading
import time
import types
from contextlib import contextmanager
from datetime import timedelta

import attrs
from thespian.system.timing import ExpirationTimer
from thespian.system.transport import ReceiveEnvelope, SendStatus, TransmitIntent
from thespian.system.transport import TCPTransport as tcp_module  # noqa: N813 - the module, not the class
from thespian.system.transport.streamBuffer import ReceiveBuffer, ackDataErrPacket, ackPacket, isControlMessage
from thespian.system.transport.TCPTransport import (
    ExternalTransportCopy,
    TCPEndpoint,
    TCPIncomingPersistent,
    TCPTransport,
    opsKey,
)
from thespian.system.utilis import thesplog

from sessionward.hosting import frames, transport_loop
from sessionward.hosting.kept_selector import KeptPollSelector
from sessionward.hosting.log_budget import LogBudget
from sessionward.hosting.transmit_order import TransmitOrder

LOGGER = "sessionward.transport"

DUE = timedelta(microseconds=1)
"""What a transmit that is due now (its retry or pause is over) reports as its delay
(``install``): never ``timedelta(0)``, which Thespian's loop drops from its ``select``
timeout (see ``_nextTransmitStepCheck``)."""


@attrs.frozen
class TransportAuth:
    """What a transport authenticates with. ``repr`` never shows the key."""

    key: bytes = attrs.field(repr=False)
    """The HMAC key (``frames.frame_key(secret)``)."""
    allow: tuple[frames.Network, ...] = ()
    """Networks that may connect (empty: any; loopback always may)."""

    @classmethod
    def from_secret(cls, secret: bytes, allow: tuple[frames.Network, ...] = ()) -> TransportAuth:
        return cls(frames.frame_key(secret), allow)


class Sealed:
    """Received frame bytes, not yet verified. What TCPTransport.py's ``serializer.loads``
    returns once ``install()`` ran: a box that code which does not know the key can only
    drop."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = bytes(payload)


_boxing_serializer = types.SimpleNamespace(dumps=pickle.dumps, loads=Sealed)
_poll_selectors = types.SimpleNamespace(DefaultSelector=KeptPollSelector,
                                        EVENT_READ=selectors.EVENT_READ, EVENT_WRITE=selectors.EVENT_WRITE)

_configuring = threading.local()
_construct_lock = threading.Lock()


@contextmanager
def authenticated(auth: TransportAuth | None):
    """Within this block, a new actor system (or attachment) built in this thread uses ``auth``."""
    with _construct_lock:
        _configuring.auth = auth
        try:
            yield
        finally:
            _configuring.auth = None


class _AuthEndpoint(TCPEndpoint):
    """Thespian's endpoint for a new admin, logger or actor process, plus our auth."""

    def __init__(self, auth: TransportAuth | None, *args) -> None:
        super().__init__(*args)
        self.auth = auth


class _AuthCopy(ExternalTransportCopy):
    def __init__(self, auth: TransportAuth | None) -> None:
        self.auth = auth


class _LogLine:
    """Queued as a finished transmit so that its line is logged outside the transport's
    exclusive section: Thespian's log forwarding sends a message, and a send started
    inside that section stays queued until some later transmit completes."""

    def __init__(self, level: int, text: str, *args) -> None:
        self.level, self.text, self.args = level, text, args

    def tx_done(self, _status) -> None:
        # Looked up now, not at import: Thespian replaces the logging manager in every
        # admin and actor process (to forward records to its logger process), and a
        # logger made before that would still write to the host's handlers.
        logging.getLogger(LOGGER).log(self.level, self.text, *self.args)


class AuthenticatedTCPTransport(TCPTransport):
    """``TCPTransport`` whose frames are sealed with a shared secret (see the module doc)."""

    def __init__(self, initType, *args) -> None:  # noqa: N803 - Thespian's names
        if isinstance(initType, (_AuthEndpoint, _AuthCopy)):
            self._auth = initType.auth
        else:
            self._auth = getattr(_configuring, "auth", None)
        self._budget = LogBudget()
        if self._auth is not None:
            self._ack_frame = self._frame(ackPacket)
            self._ack_err_frame = self._frame(ackDataErrPacket)
        else:
            self._ack_frame, self._ack_err_frame = tcp_module.ackMsg, tcp_module.ackDataErrMsg
        self._order = TransmitOrder()
        self._dropped = False
        """A transmit was dropped without being finished (its first step raised): the ones
        waiting behind it are woken in the next pass (``_processIntentTimeouts``)."""
        super().__init__(initType, *args)
        self._own_hosts = {self.myAddress.addressDetails.connectArgs[0][0]}

    # Thespian's loop, except that a kept-open connection is looked at only when it is
    # readable or a sweep is due (``sessionward.hosting.transport_loop``).
    _runWithExpiry = transport_loop.run_with_expiry

    # -- sending -------------------------------------------------------------------------

    def _frame(self, obj) -> bytes:
        body = pickle.dumps(obj)
        return frames.on_wire(frames.seal(self._auth.key, body) if self._auth is not None else body)

    def serializer(self, intent):
        return self._frame((self.myAddress, intent.message))

    def prepEndpoint(self, assignedLocalAddr, capabilities):  # noqa: N803 - Thespian's names
        return _AuthEndpoint(self._auth, *super().prepEndpoint(assignedLocalAddr, capabilities).args)

    def external_transport_clone(self):
        from thespian.system.transport.IPBase import RoutedTCPv4ActorAddress

        return type(self)(_AuthCopy(self._auth), self._adminAddr, self.txOnly,
                          isinstance(self.myAddress.addressDetails, RoutedTCPv4ActorAddress))

    # -- one message at a time to each address, in the order sent (``transmit_order``) -------

    def _next_XMIT_1(self, intent):
        """Thespian's first transmit step (take or open a connection), taken only by the
        oldest unfinished message to the target; a later one waits for it as upstream
        waits for a busy target (``awaitingTXSlot``), until ``_finishIntent`` wakes it."""
        target = opsKey(intent.targetAddr)
        if self._order.ahead_of(target, intent) is None:
            # What it waited by is over. Left on a transmit in flight, either makes the
            # loop step it again before its socket is ready: its ACK read then finds
            # nothing and it pauses, unselected, for a backoff that grows to 7 s.
            intent.__dict__.pop("_awaitingTXSlot", None)
            intent.__dict__.pop("_retryTime", None)
            try:
                return super()._next_XMIT_1(intent)
            except BaseException:
                # Thespian drops a transmit whose step raised (``_nextTransmitStep``), without
                # finishing it: the next one to its target must not wait for it.
                self._order.finished(target, intent)
                self._dropped = True
                raise
        intent.awaitingTXSlot()
        return True

    def _finishIntent(self, intent, status=SendStatus.Sent):
        target = opsKey(intent.targetAddr)
        self._order.finished(target, intent)
        done = super()._finishIntent(intent, status)
        if status == SendStatus.DeadTarget:
            # Upstream fails the other messages waiting for a dead target without this method.
            for failed, _ in self._finished_intents:
                self._order.finished(opsKey(failed.targetAddr), failed)
        self._release(self._order.oldest(target))
        return done

    def _release(self, intent) -> None:
        """Wake the transmit that may go now to its target, if it waits (``awaitingTXSlot``).
        Upstream wakes a waiting transmit only when a connection to its target falls idle,
        which need not happen: the one before failed, or its connection went on to carry a
        message from the peer. Then it waited until its timeout (5 minutes)."""
        if intent is None or hasattr(intent, "socket") or not getattr(intent, "_awaitingTXSlot", False):
            return
        del intent._awaitingTXSlot
        for n, waiting in enumerate(self._waitingTransmits):
            if waiting is intent:
                del self._waitingTransmits[n]
                if self._nextTransmitStep(intent):
                    if hasattr(intent, "socket"):
                        self._transmitIntents[intent.socket.fileno()] = intent
                    else:
                        self._waitingTransmits.append(intent)
                return
        # Not in the list: inside Thespian's pass over waiting transmits, which holds it and
        # steps it when it sees it due.
        intent._retryTime = ExpirationTimer(0)

    def _processIntentTimeouts(self):
        if self._dropped:  # rare: wake what waited behind a dropped transmit
            self._dropped = False
            for intent in list(self._waitingTransmits):
                if self._order.ahead_of(opsKey(intent.targetAddr), intent) is None:
                    self._release(intent)
        super()._processIntentTimeouts()

    def _nextTransmitStepCheck(self, intent, fileno, closed=False):
        """Thespian's, except that a transmit is due when its delay is ``DUE`` or less
        (``install`` makes a due transmit report ``DUE``, not zero).

        Thespian's loop builds its ``select`` timeout from every delay with
        ``filter(None, ...)``, which drops a zero one, and steps due transmits only after
        ``select`` returns. A transmit whose retry or pause ran out between two passes
        (while the actor's handler ran) reported zero, was dropped, and with nothing else
        to wait for ``select`` waited forever: its retry never happened. With messages
        kept in order (``transmit_order``) the ones behind it waited too; two actors
        sending to each other both stalled this way (1 exchange in about 100 of
        ``tests/test_transmit_order.py``'s, until a message from outside woke them).
        """
        if self._socketFile(intent) == fileno or (
                fileno == -1 and intent.timeToRetry(
                    hasattr(self, "_openSockets") and opsKey(intent.targetAddr) in self._openSockets)):
            if closed:
                intent.stage = self._XMITStepRetry
            return self._nextTransmitStep(intent)
        if intent.expired():
            thesplog("Transmit attempt from %s to %s timed out, returning PoisonPacket",
                     self.myAddress, intent.targetAddr, level=logging.WARNING)
            return self._finishIntent(intent, SendStatus.Failed)
        if intent.delay() <= DUE:  # sessionward: upstream's ``not intent.delay()``
            return self._nextTransmitStep(intent)
        return True

    # -- receiving -----------------------------------------------------------------------

    def _open(self, sealed) -> object:
        """The unpickled content of a received frame, or a ``frames.Rejected``."""
        if not isinstance(sealed, Sealed):
            return frames.Rejected(frames.REASON_MALFORMED)
        if self._auth is None:
            return pickle.loads(sealed.payload)
        body = frames.open_sealed(self._auth.key, sealed.payload)
        if isinstance(body, frames.Rejected):
            return body
        if body == frames.PROBE:
            return body
        return pickle.loads(body)

    def _note(self, level: int, text: str, *args) -> None:
        suppressed = self._budget.take(time.monotonic())
        if suppressed is None:
            return
        if suppressed:
            text += " (%d similar lines suppressed)"
            args = (*args, suppressed)
        self._finished_intents.append((_LogLine(level, text, *args), None))

    def _reject(self, inc, reason: str):
        """Drop a connection whose frame failed the check; log it within the budget."""
        peer = _peer(inc.socket)
        try:
            inc.socket.send(frames.on_wire(frames.REJECTED_NOTICE))
        except Exception:
            pass
        inc.close()
        self._note(logging.WARNING, "rejected a frame from %s: %s; connection closed", peer, reason)
        return None

    def _acceptNewIncoming(self):
        before = set(self._incomingSockets)
        super()._acceptNewIncoming()
        if self._auth is None or not self._auth.allow:
            return
        for fd in set(self._incomingSockets) - before:
            inc = self._incomingSockets[fd]
            host = _peer(inc.socket).rpartition(":")[0]
            if not frames.peer_allowed(host, self._auth.allow, self._own_hosts):
                del self._incomingSockets[fd]
                self._reject(inc, frames.REASON_NOT_ALLOWED)

    def _addedDataToIncoming(self, inc, skipFinish=False, has_exclusive_flag=False):  # noqa: N803
        if not inc.receivedAllData():
            # sessionward: refuse an announced size over the cap before buffering it.
            if inc.remainingSize() > frames.MAX_FRAME_BYTES:
                return self._reject(inc, frames.REASON_TOO_LARGE)
            return inc
        # sessionward: verify, then unpickle (upstream unpickled in ``inc.data``).
        completed = inc.data
        if completed is None:
            return self._reject(inc, frames.REASON_MALFORMED)
        sealed, extra = completed
        try:
            rdata = self._open(sealed)
        except Exception:  # an authenticated peer sent something this side cannot unpickle
            rdata = None
            thesplog("Error deserializing an authenticated frame; closing", level=logging.ERROR, exc_info=True)
        if isinstance(rdata, frames.Rejected):
            return self._reject(inc, rdata.reason)
        if rdata == frames.PROBE:
            # sessionward: a client checking the secret before it attaches.
            try:
                inc.socket.send(self._ack_frame)
            except OSError:
                pass
            inc.close()
            return None
        try:
            if rdata is None or isControlMessage(rdata):
                raise ValueError(f"expected a message, got {rdata!r}")
            envelope = ReceiveEnvelope(*rdata)
        except Exception:
            thesplog("Bad authenticated frame: %r", rdata, level=logging.ERROR)
            try:
                inc.socket.send(self._ack_err_frame)
            except Exception:
                pass
            inc.close()
            return None
        try:
            inc.socket.send(self._ack_frame)
        except OSError as err:
            if tcp_module.err_send_connreset(err):
                thesplog("Remote %s closed socket before ACK could be sent", inc.socket, level=logging.WARNING)
            else:
                raise
        inc.fromAddress = rdata[0]
        self._processReceivedEnvelope(envelope, has_exclusive_flag=has_exclusive_flag)
        if extra and isinstance(inc, TCPIncomingPersistent):
            newinc = TCPIncomingPersistent(inc.fromAddress, inc.socket)
            try:
                # sessionward: upstream adds ``rdata`` (the decoded tuple) here, which always
                # fails, so a second frame in the same read was dropped; it is ``extra``.
                newinc.addData(extra)
            except Exception:
                thesplog("discarding bad incoming trailing data")
            else:
                return self._addedDataToIncoming(newinc, has_exclusive_flag=has_exclusive_flag)
        if not skipFinish:
            self._finishIncoming(inc, envelope.sender)
        return None

    def _check_XMIT_4_done(self, intent, rcv):
        intent.ackbuf.addMore(rcv)
        if not intent.ackbuf.isDone():
            if intent.ackbuf.remainingAmount() > frames.MAX_FRAME_BYTES:  # sessionward: the cap
                intent.result = SendStatus.BadPacket
                intent.stage = self._XMITStepFinishCleanup
                return self._nextTransmitStep(intent)
            return True
        compl = intent.ackbuf.completed()
        if not compl:
            intent.backoffPause(True)
            intent.stage = self._XMITStepRetry
            return self._nextTransmitStep(intent)
        sealed, intent.extraRead = compl
        # sessionward: verify before anything is unpickled; a refusal or a frame that fails
        # the check ends this transmit as BadPacket (retrying cannot fix a secret).
        if isinstance(sealed, Sealed) and sealed.payload == frames.REJECTED_NOTICE:
            intent.extraRead = ""
            self._note(logging.ERROR, "%s refused our frame: it holds another secret", intent.targetAddr)
            intent.result = SendStatus.BadPacket
            intent.stage = self._XMITStepFinishCleanup
            return self._nextTransmitStep(intent)
        try:
            ackmsg = self._open(sealed)
        except Exception:
            ackmsg = frames.Rejected(frames.REASON_MALFORMED)
        if isinstance(ackmsg, frames.Rejected):
            intent.extraRead = ""
            self._note(logging.WARNING, "rejected a reply from %s: %s", intent.targetAddr, ackmsg.reason)
            intent.result = SendStatus.BadPacket
            intent.stage = self._XMITStepFinishCleanup
            return self._nextTransmitStep(intent)
        if isControlMessage(ackmsg):
            intent.result = SendStatus.Sent if ackmsg == ackPacket else SendStatus.BadPacket
            intent.stage = self._XMITStepFinishCleanup
            return self._nextTransmitStep(intent)
        # A message from the remote while we waited for our ACK: processed as incoming
        # (``_addedDataToIncoming`` opens it again from the same buffer).
        intent.ackbuf.removeExtra()
        if self._addedDataToIncoming(TCPIncomingPersistent(intent.targetAddr, intent.socket, intent.ackbuf), True):
            thesplog("<<< Should never happen: not full receive while waiting for ACK. Aborting socket.",
                     level=logging.CRITICAL)
            intent.ackbuf = ReceiveBuffer(tcp_module.serializer.loads)
            intent.backoffPause(True)
            intent.stage = self._XMITStepRetry
            return self._nextTransmitStep(intent)
        intent.ackbuf = ReceiveBuffer(tcp_module.serializer.loads)
        nxtrcv = intent.extraRead
        intent.extraRead = ""
        return self._check_XMIT_4_done(intent, nxtrcv)


def _peer(sock) -> str:
    try:
        host, port = sock.getpeername()[:2]
        return f"{host}:{port}"
    except (OSError, AttributeError, ValueError):
        return "unknown peer"


def install() -> None:
    """Make multiprocTCPBase use this transport, box TCPTransport.py's deserializer, give its
    loop the poll selector, make a due transmit's delay never zero, and describe messages
    only for a log line that is written (idempotent; forked actor processes inherit all)."""
    from thespian.system import multiprocTCPBase

    multiprocTCPBase.ActorSystemBase.transportType = AuthenticatedTCPTransport
    tcp_module.serializer = _boxing_serializer
    tcp_module.selectors = _poll_selectors
    if TransmitIntent.delay is not _delay_never_zero:
        TransmitIntent.delay = _delay_never_zero
    ReceiveEnvelope.identify = _envelope_identify
    TransmitIntent.identify = _intent_identify
    ReceiveEnvelope.__str__ = REPLACED["ReceiveEnvelope.identify"]  # upstream's returned identify()


class _Description:
    """What ``identify()`` returns after ``install``: upstream's text, made when formatted."""

    __slots__ = ("_describe", "_of")

    def __init__(self, describe, of) -> None:
        self._describe, self._of = describe, of

    def __str__(self) -> str:
        return self._describe(self._of)

    __repr__ = __str__


def _described_when_formatted(upstream):
    """Thespian calls ``identify()`` on every message an actor receives ("ACTOR got %s") and
    twice on every one it sends ("Attempting intent %s", "actualTransmit of %s"), as an
    argument to a debug log line that is then dropped: each call formatted the whole message
    (attrs' ``repr`` of a ``TurnOutcome`` and what it holds), its addresses and its timers.
    Measured with ``benchmarks.profile_turns``: four a turn in an owner, 7% of its profiled
    time. Returning a ``_Description`` keeps every log line's text as upstream writes it."""

    def identify(self):
        return _Description(upstream, self)

    identify.__doc__ = upstream.__doc__
    return identify


REPLACED = {
    "TransmitIntent.delay": TransmitIntent.delay,
    "TransmitIntent.identify": TransmitIntent.identify,
    "ReceiveEnvelope.identify": ReceiveEnvelope.identify,
    "ReceiveEnvelope.__str__": ReceiveEnvelope.__str__,
}
"""Upstream's functions that ``install`` replaces (by ``Class.name``), taken at import."""

_upstream_delay = REPLACED["TransmitIntent.delay"]  # a name, not a lookup: called on every pass
_envelope_identify = _described_when_formatted(REPLACED["ReceiveEnvelope.identify"])
_intent_identify = _described_when_formatted(REPLACED["TransmitIntent.identify"])


def _delay_never_zero(self, current_time=None):
    """``TransmitIntent.delay``, except that a transmit due now reports ``DUE``, not zero
    (see ``AuthenticatedTCPTransport._nextTransmitStepCheck``)."""
    delay = _upstream_delay(self, current_time)
    return delay if delay > DUE else DUE


def probe(host: str, port: int, auth: TransportAuth, timeout: float = 5.0) -> str:
    """Ask the system at ``host:port`` whether it holds our secret, before attaching.

    Returns ``"ok"`` (it answered our sealed probe with an ACK sealed by the same secret),
    ``"rejected"`` (it refused the probe: another secret), ``"unauthenticated"`` (it
    answered with a plain Thespian frame: it authenticates nothing) or ``"no answer"``.
    Never unpickles what it receives.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(frames.on_wire(frames.seal(auth.key, frames.PROBE)))
            data = b""
            while True:
                framed = frames.split_wire(data)
                if framed is not None:
                    break
                chunk = sock.recv(4096)
                if not chunk:
                    return "no answer"
                data += chunk
    except OSError:
        return "no answer"
    payload = framed[0]
    if payload == frames.REJECTED_NOTICE:
        return "rejected"
    body = frames.open_sealed(auth.key, payload)
    if isinstance(body, frames.Rejected):
        return "unauthenticated" if body.reason == frames.REASON_NO_MAC else "rejected"
    return "ok" if pickle.loads(body) == ackPacket else "rejected"


__all__ = ["AuthenticatedTCPTransport", "TransportAuth", "authenticated", "install", "probe"]
