"""Kept-open connections with an index by descriptor (``sessionward.hosting.kept_open``),
on real sockets: the index follows every write, and a pass can trust what it lists."""

from __future__ import annotations

import socket

import pytest

from sessionward.hosting.kept_open import KeptOpen


class _Idle:
    """What Thespian keeps per peer: an ``IdleSocket`` has a ``socket``."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock


@pytest.fixture
def sockets():
    made: list[socket.socket] = []

    def make() -> socket.socket:
        a, b = socket.socketpair()
        made.extend((a, b))
        return a

    yield make
    for s in made:
        s.close()


def _index(kept: KeptOpen) -> dict[int, object]:
    return dict(kept.by_fd)


def _truth(kept: KeptOpen) -> dict[int, object]:
    return {v.socket.fileno(): v for v in kept.values() if v.socket.fileno() >= 0}


def test_the_index_follows_every_write_thespian_makes(sockets):
    kept = KeptOpen()
    a, b, c = _Idle(sockets()), _Idle(sockets()), _Idle(sockets())
    kept["a"], kept["b"] = a, b
    assert _index(kept) == _truth(kept) == {a.socket.fileno(): a, b.socket.fileno(): b}
    kept["a"] = c  # a peer's connection replaced
    assert _index(kept) == _truth(kept)
    del kept["b"]
    assert kept.pop("a") is c
    assert kept.pop("missing", None) is None
    assert _index(kept) == {} and not kept


def test_the_rest_of_dicts_writes_keep_the_index_too(sockets):
    a, b, c = _Idle(sockets()), _Idle(sockets()), _Idle(sockets())
    kept = KeptOpen({"a": a})
    kept.update({"b": b})
    kept.setdefault("c", c)
    kept.setdefault("a", c)  # present: unchanged
    assert kept["a"] is a and _index(kept) == _truth(kept)
    kept.popitem()
    assert _index(kept) == _truth(kept)
    kept.clear()
    assert _index(kept) == {}
    with pytest.raises(KeyError):
        del kept["a"]


def test_a_pass_lists_every_descriptor_once_leaving_out_what_it_already_registers(sockets):
    a, b = _Idle(sockets()), _Idle(sockets())
    kept = KeptOpen({"a": a, "b": b})
    assert sorted(kept.fds()) == sorted([a.socket.fileno(), b.socket.fileno()])
    assert kept.fds(besides=[a.socket.fileno(), 999]) == [b.socket.fileno()]


def test_readable_descriptors_give_their_connections_and_others_nothing(sockets):
    a, b = _Idle(sockets()), _Idle(sockets())
    kept = KeptOpen({"a": a, "b": b})
    assert kept.readable([b.socket.fileno(), 12345]) == [b]


def test_a_connection_shut_down_in_place_leaves_the_index_and_cannot_steal_its_number(sockets):
    # Thespian never does this (it removes or replaces a connection as it shuts it down);
    # if it did, the closed number must neither be listed for a new socket that gets it
    # nor map a readable descriptor to the dead connection.
    a = _Idle(sockets())
    kept = KeptOpen({"a": a})
    number = a.socket.fileno()
    a.socket.close()
    new = socket.socket()
    try:
        assert new.fileno() == number  # the lowest free number: the closed one
        assert kept.fds(besides=[new.fileno()]) == []  # the pass holds it already
        assert kept.readable([number]) == [] and number not in kept.by_fd
        b = _Idle(new)
        kept["b"] = b
        del kept["a"]  # the stale entry goes without taking the new one's number with it
        assert kept.by_fd == {number: b}
    finally:
        new.close()


def test_the_sweep_rebuilds_the_index_from_the_connections(sockets):
    a, b = _Idle(sockets()), _Idle(sockets())
    kept = KeptOpen({"a": a, "b": b})
    kept.by_fd.clear()  # however it got wrong
    kept.reindex()
    assert _index(kept) == _truth(kept)
    b.socket.close()
    kept.reindex()
    assert _index(kept) == {a.socket.fileno(): a}
