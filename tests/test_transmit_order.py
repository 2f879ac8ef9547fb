"""Messages from one actor to another arrive in the order they were sent, over TCP too.

Thespian 4.0.1's TCP transport can let a later message to an address overtake an earlier
one (``sessionward.hosting.transmit_order`` says how); in CI a channel message ran after
the direct message submitted after it. ``docs/thespian-repro/out_of_order.py`` shows it
with plain Thespian.
"""

from __future__ import annotations

import time

from thespian.actors import ActorTypeDispatcher

from sessionward.hosting.transmit_order import TransmitOrder


class _Transmit:
    def __init__(self, name: str) -> None:
        self.name = name


def test_only_the_oldest_unfinished_transmit_to_an_address_may_go():
    order, first, second, third = TransmitOrder(), _Transmit("1"), _Transmit("2"), _Transmit("3")
    assert order.ahead_of("owner", first) is None
    assert order.ahead_of("owner", second) is first
    assert order.ahead_of("owner", third) is first
    assert order.ahead_of("owner", second) is first, "asking again keeps its place"
    order.finished("owner", first)
    assert order.ahead_of("owner", third) is second, "the next in sending order goes, whoever asks"
    assert order.ahead_of("owner", second) is None
    order.finished("owner", second)
    assert order.ahead_of("owner", third) is None


def test_transmits_to_other_addresses_never_wait_for_each_other():
    order, to_owner, to_client = TransmitOrder(), _Transmit("o"), _Transmit("c")
    assert order.ahead_of("owner", to_owner) is None
    assert order.ahead_of("client", to_client) is None
    assert (order.waiting("owner"), order.waiting("client")) == (1, 1)


def test_finishing_a_transmit_twice_or_one_never_noted_changes_nothing():
    order, first, second, stranger = TransmitOrder(), _Transmit("1"), _Transmit("2"), _Transmit("x")
    order.ahead_of("owner", first)
    order.ahead_of("owner", second)
    order.finished("owner", stranger)
    order.finished("elsewhere", first)
    assert order.ahead_of("owner", second) is first
    order.finished("owner", first)
    order.finished("owner", first)
    assert order.ahead_of("owner", second) is None
    order.finished("owner", second)
    assert order.waiting("owner") == 0


# -- over the real transport -----------------------------------------------------------------

COUNT = 200
"""Numbers each side sends. Without the fix the first exchange had one overtaken in 3 runs
of 3 (the two sides' first connections cross in the first few). Not more: 5 per 0.5 ms is
more than one connection carries (one ACK per message), and a backlog of thousands makes
every pass of the transport's loop slow (1,500 took 28 s)."""


class _Start:
    def __init__(self, peer, count: int) -> None:
        self.peer, self.count = peer, count


class _Number:
    def __init__(self, value: int) -> None:
        self.value = value


class _Pinger(ActorTypeDispatcher):
    """Sends its peer 0..count-1, five per handler call, while the peer does the same, and
    reports the numbers that arrived after a larger one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.report_to, self.count = None, None  # the peer's numbers may come before _Start
        self.sent, self.received, self.largest, self.overtaken = 0, 0, -1, []

    def receiveMsg__Start(self, msg, sender):
        self.peer, self.count, self.report_to = msg.peer, msg.count, sender
        self._burst()
        self._report_when_all_came()

    def receiveMsg_WakeupMessage(self, msg, sender):
        self._burst()

    def _burst(self):
        for _ in range(5):
            if self.sent < self.count:
                self.send(self.peer, _Number(self.sent))
                self.sent += 1
        if self.sent < self.count:
            self.wakeupAfter(0.0005)

    def receiveMsg__Number(self, msg, sender):
        self.received += 1
        if msg.value < self.largest:
            self.overtaken.append((msg.value, self.largest))
        self.largest = max(self.largest, msg.value)
        self._report_when_all_came()

    def _report_when_all_came(self):
        if self.report_to is not None and self.received == self.count:
            self.send(self.report_to, ("overtaken", self.overtaken))


def test_two_actors_sending_to_each_other_at_once_receive_every_message_in_order(tcp_system):
    for _ in range(6):  # a new pair each time: their first connections cross afresh
        a, b = tcp_system.createActor(_Pinger), tcp_system.createActor(_Pinger)
        tcp_system.tell(a, _Start(b, COUNT))
        tcp_system.tell(b, _Start(a, COUNT))
        reports, deadline = [], time.monotonic() + 60
        while len(reports) < 2 and time.monotonic() < deadline:
            reply = tcp_system.listen(5)
            if isinstance(reply, tuple) and reply[0] == "overtaken":
                reports.append(reply[1])
        assert len(reports) == 2, "the exchange did not finish"
        assert reports == [[], []], "(number, larger number received before it)"


def test_a_transmit_due_for_its_retry_never_reports_zero_delay_to_the_loop():
    # Thespian's loop drops a zero delay from its select timeout and steps due transmits
    # only after select returns: a retry that fell due between two passes never ran.
    from datetime import timedelta

    from thespian.system.timing import ExpirationTimer
    from thespian.system.transport import TransmitIntent

    from sessionward.hosting import transport

    transport.install()
    due = TransmitIntent(None, "message")
    due._retryTime = ExpirationTimer(timedelta(0))
    assert due.delay() == transport.DUE, "a zero here lets select wait with no timeout"
    waiting = TransmitIntent(None, "message")
    waiting.awaitingTXSlot()
    assert waiting.delay() >= timedelta(milliseconds=10)
