"""MemberWatch: tells the Directory when a convention member is known to be gone.

Thespian declares a member gone only after it misses several convention check-ins (by
default 3 x 7m22s), and a member that is merely slow can miss them too. A member whose
admin port *refuses* connections is different: its host answered, and nothing listens
there any more, so its admin process (and with it every actor of that member) is dead.
MemberWatch connects to each member's admin port every ``every`` seconds from its own
process (a connect can block; the Directory must not) and reports a member after
``refusals`` refused connections in a row. A connection that times out is only
suspicion, and is not reported: the file locks keep a slow member's owners safe.
"""

from __future__ import annotations

import socket

import attrs
from thespian.actors import WakeupMessage

from sessionward.actors.base import GuardedActor
from sessionward.logs import ActorLogger

log = ActorLogger("sessionward.member_watch")


@attrs.frozen
class WatchMember:
    """Start watching a member's admin port."""

    name: str
    host: str
    port: int


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
        self._armed = False

    def receiveMsg_WatchMember(self, msg: WatchMember, sender) -> None:
        self._directory = sender
        self._members[msg.name] = (msg.host, msg.port)
        self._refused[msg.name] = 0
        if not self._armed:
            self._armed = True
            self.wakeupAfter(self.every)

    def receiveMsg_UnwatchMember(self, msg: UnwatchMember, sender) -> None:
        self._members.pop(msg.name, None)
        self._refused.pop(msg.name, None)

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        for name, (host, port) in list(self._members.items()):
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    self._refused[name] = 0
            except ConnectionRefusedError:
                self._refused[name] += 1
                if self._refused[name] >= self.refusals:
                    del self._members[name]
                    self.send(self._directory, MemberGone(
                        name, f"its admin port {host}:{port} refused {self.refusals} connections in a row"))
            except OSError:
                pass  # a timeout or unreachable network: suspicion only, never a verdict
        self.wakeupAfter(self.every)
