"""Plain Thespian reproducer: on multiprocTCPBase a due wakeupAfter() timer is not delivered
until some message happens to arrive for the actor.

Cause (Thespian 4.0.1, thespian/system/transport/TCPTransport.py, ``_runWithExpiry``):

    ct = currentTime()
    if self.run_time.view(ct).expired():        # not expired ...
        break
    ...
    delays = list(filter(None, [self.run_time.view(ct).remaining()] + ...))
    delay = max(0, timePeriodSeconds(min(delays))) if delays else None
    ...
    events = sel.select(delay)                  # ... so wait for it here

``remaining()`` is a ``datetime.timedelta``, which has a resolution of one microsecond: when
the loop reads the clock less than 0.5 us before the timer expires, the timer is not
expired, yet its remaining time rounds to ``timedelta(0)``, which is falsy, and
``filter(None, ...)`` drops it. If no transmit is in flight and no socket is half-read there
is no other delay, ``delay`` is None, and ``select`` blocks with no timeout: the timer fires
only when a message (or a socket close) next wakes the actor, which may be never.

In the wild the loop's clock read has to land in that 0.5 us window by chance (sessionward
saw it about once in 3,000 1-ms timers, when a socket event was handled just before
a timer's expiry). To reproduce it at once, this script makes the transport's *next* clock
read fall 0.1 us before the timer's expiry; nothing else is changed.

Usage: python timer_stall.py            -> prints STALL and exits 1
       python timer_stall.py --patched  -> the workaround applied: the timer fires, exit 0
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from datetime import timedelta

from thespian.actors import ActorSystem, ActorTypeDispatcher

TIMER = timedelta(seconds=1)


def apply_workaround() -> None:
    """Never let a timer that has not expired report a zero remaining time."""
    from thespian.system import timing

    def remaining(self, forever=None):
        if self._time_to_quit is None:
            return forever
        left = self._time_to_quit - self._current_time
        return timedelta(seconds=max(left, 1e-6)) if left > 0 else timedelta(0)

    timing.ExpirationTimerView.remaining = remaining


class Arm:
    def __init__(self, flag_file: str) -> None:
        self.flag_file = flag_file


class Poke:
    pass


class Sleeper(ActorTypeDispatcher):
    def receiveMsg_Arm(self, msg, sender):
        self.flag_file = msg.flag_file
        self.armed_at = time.time()
        self.wakeupAfter(TIMER)
        _next_clock_read_just_before_expiry(self)

    def receiveMsg_WakeupMessage(self, msg, sender):
        with open(self.flag_file, "w") as f:
            f.write(f"{time.time() - self.armed_at:.3f}\n")

    def receiveMsg_Poke(self, msg, sender):
        pass


def _next_clock_read_just_before_expiry(actor) -> None:
    """Make the transport's next ``currentTime()`` return 0.1 us before the timer expires."""
    from thespian.system.transport import TCPTransport  # the module

    expiry = actor._myRef.transport._pendingWakeups[0][0]._time_to_quit
    real = TCPTransport.currentTime

    def once():
        TCPTransport.currentTime = real
        return expiry - 1e-7

    TCPTransport.currentTime = once


def fired_after(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patched", action="store_true")
    args = ap.parse_args()
    if args.patched:
        apply_workaround()  # before the system starts: actor processes are forked from here
    flag = os.path.join(tempfile.mkdtemp(prefix="timer-stall-"), "fired")
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": free_port()})
    try:
        sleeper = asys.createActor(Sleeper)
        asys.tell(sleeper, Arm(flag))
        time.sleep(TIMER.total_seconds() + 3)
        took = fired_after(flag)
        if took is not None:
            print(f"ok: the {TIMER.total_seconds():g} s timer fired after {took} s")
            return 0
        print(f"STALL: the {TIMER.total_seconds():g} s timer has not fired after {TIMER.total_seconds() + 3:g} s")
        asys.tell(sleeper, Poke())  # any incoming message ends the select()
        time.sleep(0.5)
        print(f"after one unrelated message arrived, the overdue timer fired ({fired_after(flag)} s after arming)")
        return 1
    finally:
        asys.shutdown()


if __name__ == "__main__":
    sys.exit(main())
