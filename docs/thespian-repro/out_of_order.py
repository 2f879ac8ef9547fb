"""Thespian 4.0.1, multiprocTCPBase: two actors that send to each other at once receive each
other's messages out of order.

Each of two actors sends the other the numbers 0..N-1, a few at a time, while the other does
the same; each receiver reports every number that arrived after a larger one. With plain
Thespian some do (usually within the first dozen, where both sides' first connections
cross): a message goes out on the connection the peer opened to us while the one before it
still waits for its ACK on ours (see ``sessionward/hosting/transmit_order.py``).

Usage: python out_of_order.py            -> plain Thespian: prints what overtook what, exit 1
       python out_of_order.py --patched  -> sessionward's transport: all in order, exit 0
       (--runs K repeats the exchange K times, each in a new actor system)
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from thespian.actors import ActorSystem, ActorTypeDispatcher

BURST = 5
"""Numbers sent per handler call; then a 0.5 ms timer for the next burst."""


class Start:
    def __init__(self, peer, count: int) -> None:
        self.peer, self.count = peer, count


class Number:
    def __init__(self, value: int) -> None:
        self.value = value


class Pinger(ActorTypeDispatcher):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The peer may start first: its numbers can arrive before our Start.
        self.count, self.report_to = None, None
        self.sent, self.received, self.largest, self.overtaken = 0, 0, -1, []

    def receiveMsg_Start(self, msg, sender):
        self.peer, self.count, self.report_to = msg.peer, msg.count, sender
        self._burst()
        self._report_when_all_came()

    def receiveMsg_WakeupMessage(self, msg, sender):
        self._burst()

    def _burst(self):
        for _ in range(BURST):
            if self.sent < self.count:
                self.send(self.peer, Number(self.sent))
                self.sent += 1
        if self.sent < self.count:
            self.wakeupAfter(0.0005)

    def receiveMsg_Number(self, msg, sender):
        self.received += 1
        if msg.value < self.largest:
            self.overtaken.append((msg.value, self.largest))
        self.largest = max(self.largest, msg.value)
        self._report_when_all_came()

    def _report_when_all_came(self):
        if self.report_to is not None and self.received == self.count:
            self.send(self.report_to, list(self.overtaken))


def exchange(count: int) -> list[tuple[int, int]]:
    """One exchange in a new system: every (number, larger number before it) either side saw."""
    system = ActorSystem("multiprocTCPBase", {"Admin Port": free_port()}, transientUnique=True)
    try:
        a, b = system.createActor(Pinger), system.createActor(Pinger)
        system.tell(a, Start(b, count))
        system.tell(b, Start(a, count))
        overtaken, reports, deadline = [], 0, time.monotonic() + 120
        while reports < 2 and time.monotonic() < deadline:
            report = system.listen(5)
            if isinstance(report, list):
                overtaken += report
                reports += 1
        if reports < 2:
            raise SystemExit("no report within 120 s")
        return overtaken
    finally:
        system.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patched", action="store_true")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if args.patched:
        # Before the system starts: actor processes are forked from here and inherit it.
        from sessionward.hosting import transport

        transport.install()
    failed = 0
    for run in range(1, args.runs + 1):
        overtaken = exchange(args.count)
        failed += bool(overtaken)
        shown = ", ".join(f"{n} after {m}" for n, m in overtaken[:5])
        print(f"run {run}: {len(overtaken)} of {2 * args.count} messages overtaken" + (f" ({shown})" if shown else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
