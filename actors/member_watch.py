"""MemberWatch: tells the Directory when a convention member is known to be gone.

Thespian declares a member gone only after it misses several convention check-ins (by
default 3 x 7m22s), and a member that is merely slow can miss them too. A member whose
admin port *refuses* connections is different: its host answered, and nothing listens
there any more, so its admin process (and with it every actor of that member) is dead.
MemberWatch connects to each member's admin port every ``every`` seconds from its own
process (a connect can block; the Directory must not) and reports a member after
``refusals`` refused connections in a row. A connection that times out is only
suspicion, and is not reported by the port check.

Silence is bounded separately: when a member has a lease keeper (``actors/lease_keeper.py``),
each check also sends it a ``LeaseBeat``, and a member whose keeper answered no beat for
``member_timeout`` seconds is reported gone (``sessionward.recovery.lease``). By then its
keeper has stopped its owners (its lease is shorter); the re-homed owners also wait for
the file lock, and every entry carries ``ownerEpoch``.
"""

from __future__ import annotations

import socket
from typing import Any

import attrs
from thespian.actors import WakeupMessage

from sessionward import clock
from sessionward.actors.base import GuardedActor
from sessionward.actors.lease_keeper import LeaseAck, LeaseBeat
from sessionward.logs import ActorLogger
from sessionward.recovery.lease import silent_members

log = ActorLogger("sessionward.member_watch")


@attrs.frozen
class WatchMember:
    """Start watching a member's admin port."""

    name: str
    host: str
    port: int
    keeper: Any = None
    """The member's LeaseKeeper: beaten every check; None watches the port only."""
    member_timeout: float = 0.0
    """Seconds without a beat answered before the member is reported gone (0: never)."""
    every: float = 1.0
    """Seconds between checks (the cluster's ``heartbeat_every``)."""


@attrs.frozen
class UnwatchMember:
    name: str


@attrs.frozen
class MemberGone:
    """The member's admin port refused ``refusals`` connections in a row."""

    name: str
    detail: str


class MemberWatch(GuardedActor):
    guard_log = log

    every = 1.0
    """Seconds between checks."""
    refusals = 2
    """Refused connections in a row before a member is reported gone."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._directory = None
        self._members: dict[str, tuple[str, int]] = {}
        self._refused: dict[str, int] = {}
        self._keepers: dict[str, WatchMember] = {}
        """Members with a lease keeper (beaten, and timed out when silent)."""
        self._heard: dict[str, float] = {}
        """Member -> when its keeper last answered a beat (or when watching began)."""
        self._armed = False

    def receiveMsg_WatchMember(self, msg: WatchMember, sender) -> None:
        self._directory = sender
        self._members[msg.name] = (msg.host, msg.port)
        self._refused[msg.name] = 0
        if msg.keeper is not None and msg.member_timeout > 0:
            self._keepers[msg.name] = msg
            self._heard[msg.name] = clock.now()
        if not self._armed:
            self._armed = True
            self.every = msg.every
            self.wakeupAfter(self.every)

    def receiveMsg_UnwatchMember(self, msg: UnwatchMember, sender) -> None:
        self._members.pop(msg.name, None)
        self._refused.pop(msg.name, None)
        self._keepers.pop(msg.name, None)
        self._heard.pop(msg.name, None)

    def receiveMsg_LeaseAck(self, msg: LeaseAck, sender) -> None:
        if msg.member in self._heard:
            self._heard[msg.member] = clock.now()

    def _gone(self, name: str, detail: str) -> None:
        self._members.pop(name, None)
        self._keepers.pop(name, None)
        self._heard.pop(name, None)
        self.send(self._directory, MemberGone(name, detail))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        # Sent when this handler returns (Thespian holds sends until then): the port checks
        # below delay them by at most 0.5 s per unreachable member.
        for name, watch in self._keepers.items():
            self.send(watch.keeper, LeaseBeat(name))
        now = clock.now()
        for name, watch in list(self._keepers.items()):
            if silent_members({name: self._heard[name]}, now, watch.member_timeout):
                self._gone(name, f"it answered no heartbeat for {now - self._heard[name]:.1f} s "
                                 f"(member_timeout {watch.member_timeout:g} s)")
        for name, (host, port) in list(self._members.items()):
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    self._refused[name] = 0
            except ConnectionRefusedError:
                self._refused[name] += 1
                if self._refused[name] >= self.refusals:
                    self._gone(name, f"its admin port {host}:{port} refused {self.refusals} connections in a row")
            except OSError:
                pass  # a timeout or unreachable network: suspicion only, never a verdict
        self.wakeupAfter(self.every)
