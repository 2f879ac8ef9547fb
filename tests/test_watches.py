"""An actor that closes its watched descriptors as it exits still delivers what it sends
while exiting (``sessionward.hosting.watches``)."""

from __future__ import annotations

import os
import select

from thespian.actors import ActorExitRequest, ActorTypeDispatcher, ThespianWatch

from sessionward.hosting.watches import forget_watches


class _Closer(ActorTypeDispatcher):
    """Watches a pipe, as an owner watches its worker's link; closes it as it exits, and says
    goodbye to a listener it has never sent to (so the goodbye needs a new socket)."""

    def receiveMsg_tuple(self, msg, sender):
        if msg[0] == "watch":
            self._listener, self._forget = msg[1], msg[2]
            self._read, self._write = os.pipe()
            self.send(sender, ("watching", os.getpid()))
            return ThespianWatch([self._read])
        return None

    def receiveMsg_ActorExitRequest(self, msg, sender):
        # Every free number below the pipe's is taken first, so the goodbye's socket gets the
        # number the pipe's read end had (a new descriptor is always the lowest free one).
        while (fd := os.open(os.devnull, os.O_RDONLY)) < self._read:
            pass
        os.close(fd)
        os.close(self._read)
        os.close(self._write)
        if self._forget:
            forget_watches(self)
        self.send(self._listener, ("goodbye", os.getpid()))


class _Listener(ActorTypeDispatcher):
    def receiveMsg_tuple(self, msg, sender):
        if msg[0] == "goodbye":
            self._heard = msg[1]
        elif msg[0] == "heard":
            self.send(sender, ("heard", getattr(self, "_heard", None)))


def _wait_for_exit(pid: int, timeout: float) -> None:
    """Until the process has ended (a pidfd is readable then, reaped or not)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        assert ready, f"process {pid} did not end in {timeout} s"
    finally:
        os.close(pidfd)


def _goodbye_heard(system, forget: bool) -> bool:
    listener = system.createActor(_Listener)
    closer = system.createActor(_Closer)
    answer = system.ask(closer, ("watch", listener, forget), 10)
    assert answer is not None and answer[0] == "watching"
    system.tell(closer, ActorExitRequest())
    # Once its process has ended, the exit either drained its goodbye (the listener's
    # transport has it, and answers it before this question) or died before sending it.
    _wait_for_exit(answer[1], 15)
    heard = system.ask(listener, ("heard",), 10)
    assert heard is not None, "the listener did not answer"
    return heard[1] == answer[1]


def test_an_actor_that_forgets_the_descriptors_it_closed_as_it_exits_delivers_its_goodbye(tcp_system):
    assert _goodbye_heard(tcp_system, forget=True)


def test_without_forgetting_them_the_exiting_actor_dies_before_its_goodbye_is_sent(tcp_system):
    # What the fix is for: Thespian keeps the closed number watched while the exit drains.
    assert not _goodbye_heard(tcp_system, forget=False)


def test_forgetting_watches_where_the_transport_watches_nothing_is_a_no_op():
    class _NoTransport:
        pass

    forget_watches(_NoTransport())


def test_an_owner_that_exits_watches_nothing_afterwards():
    from sessionward.actors.owner import SessionOwner

    class _Transport:
        def __init__(self) -> None:
            self.watches = [7, 8]  # what its last handler returned: the link and the wake pipe

        def set_watch(self, watches) -> None:
            self.watches = watches

    class _Manager:
        transport = _Transport()

    owner = SessionOwner()
    owner._myRef = _Manager()
    owner.receiveMsg_ActorExitRequest(ActorExitRequest(), None)
    assert owner._myRef.transport.watches == []
