"""An owner holds its answers to a submitter while one already waits to be sent to it, and
sends them together once that one is on its way (issue 17): nothing is lost, nothing is
reordered, and a turn alone never waits."""

from __future__ import annotations

import json
import os
import threading

from conftest import wait_for
from thespian.actors import ActorTypeDispatcher

from sessionward import ScriptedProvider, TurnStatus
from sessionward.actors.held_answers import MOST_HELD, HeldAnswers
from sessionward.actors.messages import Answers, OutcomeMessage
from sessionward.hosting.transmits import waiting_to

KEY = "agent:main:main"


class Address:
    """Like Thespian's ActorAddress: compared with ==, not hashable."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and other.name == self.name


# -- pure -----------------------------------------------------------------------------------------


def test_an_answer_goes_at_once_unless_one_to_its_address_already_waits():
    held = HeldAnswers()
    assert not held.offer(Address("a"), 1, waiting=False)
    assert held.offer(Address("a"), 2, waiting=True)
    assert held


def test_an_answer_is_held_behind_those_held_for_its_address_even_when_nothing_waits_any_more():
    held = HeldAnswers()
    held.offer(Address("a"), 1, waiting=True)
    assert held.offer(Address("a"), 2, waiting=False), "sent now, it would overtake 1"
    assert not held.offer(Address("b"), 3, waiting=False)


def test_held_answers_go_together_in_order_once_nothing_waits_for_their_address():
    held = HeldAnswers()
    for i, to in enumerate("abab"):
        held.offer(Address(to), i, waiting=True)
    assert held.due(lambda address: True) == []
    assert held.due(lambda address: address == Address("b")) == [(Address("a"), (0, 2))]
    assert held.due(lambda address: False) == [(Address("b"), (1, 3))]
    assert not held


def test_an_address_that_never_takes_its_messages_holds_at_most_its_bound():
    held = HeldAnswers()
    for i in range(MOST_HELD):
        held.offer(Address("a"), i, waiting=True)
    assert held.due(lambda address: True) == [(Address("a"), tuple(range(MOST_HELD)))]


def test_everything_held_goes_when_the_owner_stops():
    held = HeldAnswers()
    held.offer(Address("a"), 1, waiting=True)
    held.offer(Address("b"), 2, waiting=True)
    assert held.all() == [(Address("a"), (1,)), (Address("b"), (2,))] and not held


# -- Thespian's transport -------------------------------------------------------------------------


class _Probe:
    def __init__(self, path: str) -> None:
        self.path = path


class _Sender(ActorTypeDispatcher):
    def receiveMsg__Probe(self, msg, sender):
        # The sender's transport does not run while this handler does: "one" is being sent
        # (no ACK can arrive yet), "two" waits behind it.
        seen = [waiting_to(self, sender)]
        self.send(sender, "one")
        seen.append(waiting_to(self, sender))
        self.send(sender, "two")
        seen.append(waiting_to(self, sender))
        seen.append(waiting_to(self, self.myAddress))
        with open(msg.path + ".tmp", "w") as f:  # renamed when written: the test waits for the name
            json.dump(seen, f)
        os.rename(msg.path + ".tmp", msg.path)


def test_the_transport_probe_sees_a_message_waiting_behind_the_one_being_sent(tmp_path, tcp_system):
    out = tmp_path / "seen.json"
    tcp_system.tell(tcp_system.createActor(_Sender), _Probe(str(out)))
    wait_for(out.exists, 10, "the probe's answer")
    assert json.loads(out.read_text()) == [False, False, True, False]
    assert {tcp_system.listen(5), tcp_system.listen(5)} == {"one", "two"}


# -- through a runtime ----------------------------------------------------------------------------


def test_outcomes_held_while_the_client_does_not_take_them_all_arrive_together_and_in_order(
        make_runtime, monkeypatch):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    mailbox = rt._mailbox
    dispatched, gate, blocked = [], threading.Event(), threading.Event()
    original = mailbox._dispatch

    def dispatch(msg):
        dispatched.append(msg)
        if isinstance(msg, OutcomeMessage) and not blocked.is_set():
            blocked.set()  # the mailbox thread stops taking messages: its transport does too
            assert gate.wait(30)
        original(msg)

    monkeypatch.setattr(mailbox, "_dispatch", dispatch)
    handles = [rt.submit(KEY, f"t{i}") for i in range(8)]
    assert blocked.wait(30)
    # Queries are answered to the caller's own context, not the blocked mailbox.
    wait_for(lambda: rt.session(KEY, history=False).turns_completed == 9, 30, "every turn to finish")
    gate.set()
    outcomes = [h.result(timeout=30) for h in handles]
    assert [o.status for o in outcomes] == [TurnStatus.COMPLETED] * 8
    together = [m for m in dispatched if isinstance(m, Answers)
                and sum(isinstance(a, OutcomeMessage) for a in m.answers) > 1]
    assert together, "the outcomes finished while the client was not taking them went together"
    # ``_dispatch`` hands each of an ``Answers``' answers to itself: all are in ``dispatched``.
    arrived = [m.outcome.request_id for m in dispatched if isinstance(m, OutcomeMessage)]
    assert arrived == [h.request_id for h in handles], "in the order the turns ran"


def test_a_turn_alone_is_never_held(make_runtime, monkeypatch):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    dispatched = []
    original = rt._mailbox._dispatch
    monkeypatch.setattr(rt._mailbox, "_dispatch", lambda msg: (dispatched.append(msg), original(msg)))
    for i in range(20):
        assert rt.submit(KEY, f"t{i}").result(timeout=30).status is TurnStatus.COMPLETED
    assert not any(isinstance(m, Answers) for m in dispatched)
