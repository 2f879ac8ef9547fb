"""Whether an actor's transport still holds a message it has not written (``unsent``): an
owner with no worker forks one only once its activation's answers are out."""

from __future__ import annotations

import json
import os
import types

from conftest import wait_for
from thespian.actors import ActorTypeDispatcher

from sessionward.hosting.transmits import unsent


def _actor(*, intents=(), waiting=(), queued=()):
    transport = types.SimpleNamespace(_transmitIntents={i: types.SimpleNamespace(stage=s) for i, s in
                                                        enumerate(intents)},
                                      _waitingTransmits=list(waiting), _aTB_queuedPendingTransmits=list(queued))
    return types.SimpleNamespace(_myRef=types.SimpleNamespace(transport=transport))


def test_a_message_connecting_or_being_written_is_unsent():
    assert unsent(_actor(intents=[1]))  # connecting
    assert unsent(_actor(intents=[4, 2]))  # one written and awaiting its ACK, one being written


def test_a_message_awaiting_only_its_ack_has_gone_out():
    assert not unsent(_actor(intents=[4, 5]))
    assert not unsent(_actor())


def test_a_message_waiting_behind_another_or_queued_is_unsent():
    assert unsent(_actor(intents=[4], waiting=["next"]))
    assert unsent(_actor(queued=["first"]))


def test_an_actor_without_a_socket_transport_has_nothing_unsent():
    assert not unsent(types.SimpleNamespace())  # simpleSystemBase sends at once


class _Probe:
    def __init__(self, path: str) -> None:
        self.path = path


class _Again(_Probe):
    pass


def _write(path: str, seen: list) -> None:
    """All at once (a rename): the test waits for the file to exist, then reads it."""
    with open(path + ".tmp", "w") as f:
        json.dump(seen, f)
    os.rename(path + ".tmp", path)


class _Sender(ActorTypeDispatcher):
    def receiveMsg__Probe(self, msg, sender):
        # The transport does not run while this handler does: "two" waits behind "one".
        self.send(sender, "one")
        self.send(sender, "two")
        _write(msg.path, [unsent(self)])

    def receiveMsg__Again(self, msg, sender):
        _write(msg.path, [unsent(self)])


def test_the_probe_reads_a_real_transport(tmp_path, tcp_system):
    first, again = tmp_path / "first.json", tmp_path / "again.json"
    sender = tcp_system.createActor(_Sender)
    tcp_system.tell(sender, _Probe(str(first)))
    wait_for(first.exists, 10, "the probe's answer")
    assert json.loads(first.read_text()) == [True]
    assert {tcp_system.listen(5), tcp_system.listen(5)} == {"one", "two"}  # both written, then
    tcp_system.tell(sender, _Again(str(again)))
    wait_for(again.exists, 10, "the second probe's answer")
    assert json.loads(again.read_text()) == [False]
