"""Thespian's transport loop, with kept-open connections looked at only when they need it.

``TCPTransport._runWithExpiry`` is the loop every actor process and every client thread
runs: it selects on its sockets, then handles what is ready. Thespian keeps a connection
open after a message is sent or received on it (``_openSockets``, an ``IdleSocket`` per
peer), and its loop looked at every one of them on every pass: its key, a dict lookup that
hashes the peer's address, its expiry timer (about ten Python calls each). A client with
100 live sessions holds about 100 of them (each owner it submits to and each that answers
it), and ran that look about once per turn: measured with ``benchmarks.profile_turns``,
the saturated phase, 100 sessions, runs interleaved, the client's CPU per turn was
0.69-0.75 ms, and 0.40-0.51 ms with this loop (issue 17; ``docs/performance.md``).

Between two sweeps, nothing can be due on a connection that is not readable: the only
other things the pass does to one are to close it when it has expired (Thespian keeps one
open for 20 minutes; a sweep once a second closes it at most that late) and to close a
duplicate that is no longer the one kept (both places that replace one in
``_openSockets`` shut the old one down first). So a pass takes the readable ones, and
every one only when ``IDLE_SWEEP_EVERY`` has passed since the last sweep. Both the listing
for ``select`` and the readable ones come from an index by descriptor that
``_openSockets`` keeps as it changes (``kept_open.py``), not from a look at each connection.

``run_with_expiry`` is Thespian 4.0.1's ``TCPTransport._runWithExpiry`` with the changes
marked ``# sessionward:`` (and its select through ``KeptPollSelector``, which ``install``
made Thespian's ``DefaultSelector`` anyway); ``tests/test_transport.py`` pins the upstream
source it copies, so a Thespian upgrade that changes it fails a test.
"""

# ruff: noqa: N803, N806, E741, SIM300, UP024
# Thespian's code, kept as close to upstream as it can be so that the two can be compared.

from __future__ import annotations

import errno
import logging
import selectors
from typing import Any

from thespian.actors import WatchMessage
from thespian.system.timing import currentTime, timePeriodSeconds
from thespian.system.transport import (
    ReceiveEnvelope,
    Thespian__Run_Expired,
    Thespian__Run_HandlerResult,
    Thespian__Run_Terminated,
    TransmitOnly,
)
from thespian.system.transport.asyncTransportBase import exclusive_processing
from thespian.system.transport.errmgmt import err_bad_fileno, err_select_retry
from thespian.system.transport.TCPTransport import (
    TCPIncomingPersistent,
    TCPTransport,
    _safeSocketShutdown,
    opsKey,
)
from thespian.system.utilis import fmap, partition, thesplog

from sessionward.hosting.kept_open import KeptOpen
from sessionward.hosting.kept_selector import KeptPollSelector

IDLE_SWEEP_EVERY = 1.0
"""Seconds between two passes that look at every kept-open connection, not only the
readable ones (expired ones are closed then)."""


def kept_open(transport: Any) -> KeptOpen:
    """The transport's ``_openSockets``, made a ``KeptOpen`` the first time (under the
    transport's exclusive flag: the loop's pass holds it)."""
    open_sockets = transport._openSockets
    if type(open_sockets) is not KeptOpen:
        open_sockets = transport._openSockets = KeptOpen(open_sockets)
    return open_sockets


def idle_sockets_to_check(transport: Any, ready: list[int], now: float) -> list[Any]:
    """The kept-open connections this pass handles: the readable ones, or every one when a
    sweep is due (``transport._idle_sweep_at``, set here). The sweep also rebuilds the
    index, and takes a connection whose descriptor is gone (upstream took one on every
    pass; the index cannot list it)."""
    if not getattr(transport, "_openSockets", None):
        return []
    open_sockets = kept_open(transport)
    if now >= getattr(transport, "_idle_sweep_at", 0.0):
        transport._idle_sweep_at = now + IDLE_SWEEP_EVERY
        open_sockets.reindex()
        return list(open_sockets.values())
    return open_sockets.readable(ready) if ready else []


def run_with_expiry(self, incomingHandler):
    xmitOnly = incomingHandler == TransmitOnly or \
               isinstance(incomingHandler, TransmitOnly)

    if hasattr(self, '_aborting_run'):
        delattr(self, '_aborting_run')

    while (not hasattr(self, '_aborting_run') or
           (self._aborting_run and
            (len(self._transmitIntents) > 0 or
             len(self._waitingTransmits) > 0))):

        ct = currentTime()
        if self.run_time.view(ct).expired():
            break

        if xmitOnly:
            if not self._transmitIntents and not self._waitingTransmits:
                return 0
        else:
            while self._incomingEnvelopes:
                rEnv = self._incomingEnvelopes.pop(0)
                if incomingHandler is None:
                    return rEnv
                r = Thespian__Run_HandlerResult(incomingHandler(rEnv))
                if not r:
                    return r

        # Socket management can happen on other threads that are
        # attempting transmits, so acquire exclusive processing
        # flag.  Busy-cycle to obtain the flag since this is the
        # primary thread.

        with exclusive_processing(self):

            wsend, wrecv = fmap(
                TCPTransport._socketFile,
                partition(TCPTransport._waitForSendable,
                          filter(lambda T: not T.backoffPause(),
                                 self._transmitIntents.values())))

            wrecv = list(filter(None, wrecv))
            wsend = list(filter(None, wsend))
            wrecv.extend(list(
                filter(lambda I: not self._incomingSockets[I].backoffPause(),
                       filter(None, self._incomingSockets))))

            if hasattr(self, '_openSockets'):
                # sessionward: the kept-open connections' descriptors from their index, not
                # one fileno() call per connection per pass (kept_open.py)
                wrecv.extend(kept_open(self).fds(besides=wrecv + wsend))

            delays = list(filter(None,
                                 [self.run_time.view(ct).remaining()] +
                                 [self._transmitIntents[T].delay(ct)
                                  for T in self._transmitIntents] +
                                 [W.delay() for W in self._waitingTransmits] +
                                 [self._incomingSockets[I].delay(ct)
                                  for I in self._incomingSockets]))
            # n.b. if a long period of time has elapsed (e.g. laptop
            # sleeping) then delays could be negative.
            delay = max(0, timePeriodSeconds(min(delays))) if delays else None

            if not xmitOnly:
                wrecv.extend([self.socket.fileno()])

            if self._watches:
                wrecv.extend(self._watches)

        rrecv, rsend, rerr = [], [], []
        try:
            # creates selector on each loop, perhaps this could be optimized
            sel = KeptPollSelector()  # sessionward: what install() makes DefaultSelector
            sel.register_all(wrecv, wsend)  # sessionward: one call, not one per descriptor
            events = sel.select(delay)
            for key, event in events:
                if event & selectors.EVENT_READ:
                    rrecv.append(key.fd)
                if event & selectors.EVENT_WRITE:
                    rsend.append(key.fd)
            sel.close()
        except (OSError, ValueError) as ex:
            thesplog('selector exception: %s', ex, level=logging.DEBUG)
            errnum = errno.EBADF if isinstance(ex, ValueError) \
                else getattr(ex, 'errno', ex.args[0])
            if err_select_retry(errnum):
                # probably a change in descriptors
                thesplog('select retry on %s', ex, level=logging.DEBUG)
                self._check_indicators()
                continue
            if err_bad_fileno(errnum):
                # One of the selected file descriptors was bad,
                # but no indication which one.  It should not be
                # one of the ones locally managed by this
                # transport, so it's likely one of the
                # user-supplied "watched" file descriptors.  Find
                # and remove it, then carry on.
                if errnum == errno.EBADF:
                    bad = []
                    for each in self._watches:
                        try:
                            TCPTransport._check_fd(each)
                        except Exception as ex:
                            thesplog('watcher %s is bad: %', each, ex)
                            bad.append(each)
                    if not bad:
                        thesplog('bad internal file descriptor!')
                        try:
                            TCPTransport._check_fd(self.socket.fileno())
                        except Exception as ex:
                            thesplog('listen %s is bad: %s', self.socket.fileno, ex)
                            rerr.append(self.socket.fileno)
                        for each in wrecv:
                            try:
                                TCPTransport._check_fd(each)
                            except Exception as ex:
                                thesplog('wrecv %s is bad: %s', each, ex)
                                rerr.append(each)
                        for each in wsend:
                            try:
                                TCPTransport._check_fd(each)
                            except Exception:
                                thesplog('wsend %s is bad', each)
                                rerr.append(each)
                    else:
                        self._watches = [W for W in self._watches if W not in bad]
                        continue
                # If it was a regular file descriptor, fall through to clean it up.
            else:
                raise

        with exclusive_processing(self):  # modifying internal structures...

            if rerr:
                for errfileno in rerr:
                        self._cancel_fd_ops(errfileno)

            origPendingSends = len(self._transmitIntents) + \
                               len(self._waitingTransmits)

            # Get idleSockets before checking incoming and
            # transmit; those latter may modify _openSockets
            # (including replacing the element) so ensure that
            # only the sockets indicated by select are processed,
            # and only once each.
            # sessionward: only the readable ones, but every one when a sweep is due
            # (idle_sockets_to_check; upstream took every one on every pass)
            idleSockets = idle_sockets_to_check(self, rrecv, ct)

            # Handle newly receivable data
            for each in rrecv:
                # n.b. ignore this if trying to quiesce
                if each == self.socket.fileno() and not xmitOnly:
                    self._acceptNewIncoming()
                    continue

                if each in self._incomingSockets:
                    incoming = self._incomingSockets[each]
                    del self._incomingSockets[each]
                    incoming = self._handlePossibleIncoming(incoming, each,
                                                            has_exclusive_flag=True)
                    if incoming:
                        self._incomingSockets[
                            incoming.socket.fileno()] = incoming
                    continue

                if self._processIntents(each):
                    continue

            for idle in idleSockets:
                rmtaddr = idle.rmtaddr
                curOpen = getattr(self, '_openSockets', dict()).get(opsKey(rmtaddr), None)
                if curOpen and curOpen != idle:
                    # duplicate sockets to remote, and this one is
                    # no longer tracked, so close it and keep
                    # existing openSocket.
                    _safeSocketShutdown(idle)
                else:
                    fnum = None
                    try:
                        fnum = idle.socket.fileno()
                    except IOError as ex:
                        if not err_bad_fileno(ex.errno):
                            raise
                    if fnum is None or fnum in rrecv:
                        if hasattr(self, '_openSockets') and opsKey(rmtaddr) in self._openSockets:
                            del self._openSockets[opsKey(rmtaddr)]
                        if fnum:
                            incoming = self._handlePossibleIncoming(
                                TCPIncomingPersistent(rmtaddr, idle.socket),
                                fnum,
                                has_exclusive_flag=True)
                            if incoming:
                                self._incomingSockets[
                                    incoming.socket.fileno()] = incoming
                    elif idle.expired():
                        _safeSocketShutdown(idle)
                        if hasattr(self, '_openSockets') and opsKey(rmtaddr) in self._openSockets:
                            del self._openSockets[opsKey(rmtaddr)]

            # Handle newly sendable data.  Handle this after
            # receives since receives might create outbound
            # traffic that we can immediately start processing.
            for eachs in rsend:
                self._processIntents(eachs)

            # Handle timeouts.  Do this after transmits in case
            # the transmit can be completed just at the timeout
            # boundary: we prefer success to timeout.
            self._processIntentTimeouts()
            rmvIncoming = []
            for I in self._incomingSockets:
                newI = self._handlePossibleIncoming(self._incomingSockets[I],
                                                    -1,
                                                    has_exclusive_flag=True)
                if newI:
                    # newI will possibly be new incoming data, but
                    # it's going to use the same socket
                    self._incomingSockets[I] = newI
                else:
                    rmvIncoming.append(I)
            for I in rmvIncoming:
                del self._incomingSockets[I]

            watchready = [W for W in self._watches if W in rrecv]
            if watchready:
                self._incomingEnvelopes.append(
                    ReceiveEnvelope(self.myAddress, WatchMessage(watchready)))

        # Initiate completion operations for transmits (which may
        # result in other transmit calls).
        senddone = self._finished_intents
        self._finished_intents = []
        for intent,sts in senddone:
            intent.tx_done(sts)

        # Check if it's time to quit
        if [] == rrecv and [] == rsend:
            if [] == rerr and self.run_time.view().expired():
                # Timeout, give up
                return Thespian__Run_Expired()
            continue

        if xmitOnly:
            remXmits = len(self._transmitIntents) + \
                       len(self._waitingTransmits)
            if origPendingSends > remXmits or remXmits == 0:
                return remXmits

        # Handle queued internal "received" data
        if not xmitOnly:
            while self._incomingEnvelopes:
                rEnv = self._incomingEnvelopes.pop(0)
                if incomingHandler is None:
                    return rEnv
                r = Thespian__Run_HandlerResult(incomingHandler(rEnv))
                if not r:
                    return r

    return Thespian__Run_Terminated() \
        if hasattr(self, '_aborting_run') else \
        Thespian__Run_Expired()
