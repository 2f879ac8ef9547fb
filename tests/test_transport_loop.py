"""The transport's loop looks at a kept-open connection only when it is readable, and at
every one once a sweep is due (``sessionward.hosting.transport_loop``)."""

from __future__ import annotations

import time

from thespian.actors import ActorTypeDispatcher
from thespian.system.timing import ExpirationTimer

from sessionward.hosting import transport_loop
from sessionward.hosting.transport_loop import IDLE_SWEEP_EVERY, idle_sockets_to_check


class _Socket:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class _Idle:
    def __init__(self, fd: int) -> None:
        self.socket = _Socket(fd)


class _Transport:
    def __init__(self, fds: list[int]) -> None:
        self._openSockets = {f"peer{fd}": _Idle(fd) for fd in fds}


def _fds(idle: list[_Idle]) -> list[int]:
    return sorted(i.socket.fd for i in idle)


def test_the_first_pass_sweeps_every_kept_open_connection():
    transport = _Transport([5, 6, 7])
    assert _fds(idle_sockets_to_check(transport, [], now=100.0)) == [5, 6, 7]


def test_between_sweeps_a_pass_takes_only_the_readable_connections():
    transport = _Transport([5, 6, 7])
    idle_sockets_to_check(transport, [], now=100.0)
    assert _fds(idle_sockets_to_check(transport, [6, 3], now=100.2)) == [6]
    assert idle_sockets_to_check(transport, [], now=100.0 + IDLE_SWEEP_EVERY / 2) == []


def test_a_sweep_comes_again_once_its_interval_has_passed():
    transport = _Transport([5, 6])
    idle_sockets_to_check(transport, [], now=100.0)
    assert _fds(idle_sockets_to_check(transport, [], now=100.0 + IDLE_SWEEP_EVERY)) == [5, 6]
    assert idle_sockets_to_check(transport, [], now=100.0 + IDLE_SWEEP_EVERY + 0.1) == []


def test_a_connection_whose_descriptor_is_gone_is_taken_by_the_next_sweep():
    class _Gone:
        def fileno(self) -> int:
            raise OSError(9, "Bad file descriptor")

    transport = _Transport([5])
    idle_sockets_to_check(transport, [], now=100.0)
    gone = _Idle(0)
    gone.socket = _Gone()  # type: ignore[assignment]
    transport._openSockets["gone"] = gone
    assert idle_sockets_to_check(transport, [9], now=100.1) == []  # no descriptor to be ready
    assert gone in idle_sockets_to_check(transport, [], now=100.0 + IDLE_SWEEP_EVERY)


def test_a_transport_without_kept_open_connections_has_none_to_check():
    transport = _Transport([])
    assert idle_sockets_to_check(transport, [1], now=1.0) == []


# -- over the real transport -----------------------------------------------------------------


class _Hub(ActorTypeDispatcher):
    """Sends to each peer it is given (so it keeps a connection open to each), and answers
    which peers it still holds a kept-open connection to."""

    def receiveMsg_tuple(self, msg, sender):
        transport = self._myRef.transport
        kept = getattr(transport, "_openSockets", {})
        if msg[0] == "greet":
            for peer in msg[1]:
                self.send(peer, "hello")
            self.send(sender, "greeted")
        elif msg[0] == "expire":  # every kept-open connection's 20 minutes are over now
            for idle in kept.values():
                idle.validity = ExpirationTimer(0)
            self.send(sender, "expired")
        elif msg[0] == "kept":
            ours = type(transport)._runWithExpiry is transport_loop.run_with_expiry
            self.send(sender, ("kept", [str(idle.rmtaddr) for idle in kept.values()], ours))
        elif msg[0] == "index":  # whether the kept-open connections' index is right
            truth = {idle.socket.fileno(): id(idle) for idle in kept.values()}
            index = {fd: id(idle) for fd, idle in getattr(kept, "by_fd", {}).items()}
            self.send(sender, ("index", type(kept).__name__, len(truth), index == truth))


class _Peer(ActorTypeDispatcher):
    def receiveMsg_str(self, msg, sender):
        pass


def _ask(system, actor, message, timeout: float = 10.0):
    reply = system.ask(actor, message, timeout)
    assert reply is not None, f"no answer to {message!r}"
    return reply


def test_an_expired_kept_open_connection_is_closed_by_the_next_sweep(tcp_system):
    hub = tcp_system.createActor(_Hub)
    peers = [tcp_system.createActor(_Peer) for _ in range(3)]
    assert _ask(tcp_system, hub, ("greet", peers)) == "greeted"
    peer_names = {str(p) for p in peers}
    deadline = time.monotonic() + 10
    while not peer_names <= set(_ask(tcp_system, hub, ("kept",))[1]):  # each hello's connection is kept
        assert time.monotonic() < deadline, "the hub kept no connection to its peers"
    assert _ask(tcp_system, hub, ("expire",)) == "expired"
    started = time.monotonic()
    # The hub's loop passes on each question; without a sweep, a connection that nothing
    # reads from would never be looked at again.
    while peer_names & set(_ask(tcp_system, hub, ("kept",))[1]):
        assert time.monotonic() - started < 5 * IDLE_SWEEP_EVERY + 5, "expired connections were never closed"
    assert _ask(tcp_system, hub, ("kept",))[2], "the hub does not run sessionward's loop"


def test_a_processs_kept_open_connections_are_indexed_by_descriptor_as_they_come(tcp_system):
    hub = tcp_system.createActor(_Hub)
    peers = [tcp_system.createActor(_Peer) for _ in range(4)]
    assert _ask(tcp_system, hub, ("greet", peers)) == "greeted"
    deadline = time.monotonic() + 10
    while True:  # each hello's connection is kept once its send is done
        _, kind, count, right = _ask(tcp_system, hub, ("index",))
        assert kind == "KeptOpen" and right, "the loop lists kept-open connections from a wrong index"
        if count >= len(peers):
            break
        assert time.monotonic() < deadline, "the hub kept no connection to its peers"
