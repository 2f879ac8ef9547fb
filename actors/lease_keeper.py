"""LeaseKeeper: one per convention member; ends the member's owners' turns when the
leader falls silent (a partition), so that nobody else's owner and this member's write a
session at once.

The leader's Directory creates one keeper on each member that joins (Thespian places it
there by the ``sessionward.member`` capability, like an owner) and tells it, for every
owner it places on that member, which file the owner holds (``HoldLease``). The leader's
MemberWatch sends it a ``LeaseBeat`` every ``heartbeat_every`` seconds; the keeper answers
each with ``LeaseAck`` (that answer is what the leader counts as "heard from this member").
When no beat has arrived for ``lease_timeout`` seconds (``sessionward.recovery.lease``), and
the Directory's port does not *refuse* connections (a refused port means the Directory is
dead, and a dead Directory re-homes nothing), every owner it knows gets ``LeaseLost``: it ends its
running turn as ``lease_lost``, leaves its queued turns to the session's next owner and
releases its file. The keeper runs in its own process, so a blocking probe of the
leader's port delays no owner.
"""

from __future__ import annotations

import socket
from typing import Any

import attrs
from thespian.actors import WakeupMessage

from sessionward import clock
from sessionward.actors.base import GuardedActor
from sessionward.logs import ActorLogger
from sessionward.recovery.lease import Lease, lease_state

log = ActorLogger("sessionward.lease")


@attrs.frozen
class StartLease:
    """From the leader's Directory, once: the member this keeper serves and its timings."""

    member: str
    heartbeat_every: float
    """Seconds between lease checks (the leader beats at the same period)."""
    lease_timeout: float
    """Seconds without a beat after which this member's owners stop."""
    leader: tuple[str, int] | None = None
    """The leader's Directory ``(host, port)``, probed before a lease is given up."""


@attrs.frozen
class HoldLease:
    """An owner on this member now holds ``path`` (it replaces any earlier owner of it)."""

    path: str
    owner: Any


@attrs.frozen
class LeaseBeat:
    """The leader is alive and hears this member's answers (sent by MemberWatch)."""

    member: str


@attrs.frozen
class LeaseAck:
    """This member heard a beat (sent back to MemberWatch)."""

    member: str


@attrs.frozen
class LeaseLost:
    """To an owner: stop writing and release the file; another member may take it now."""

    detail: str


class LeaseKeeper(GuardedActor):
    guard_log = log

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict, requirements: dict) -> bool:
        """Created on the member the Directory names, like an owner."""
        wanted = (requirements or {}).get("sessionward.member")
        return wanted is None or capabilities.get("sessionward.member", "local") == wanted

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._settings: StartLease | None = None
        self._heard = 0.0
        self._owners: dict[str, Any] = {}
        """path -> the owner holding it on this member (ActorAddress values, not keys)."""
        self._lost = False

    def receiveMsg_StartLease(self, msg: StartLease, sender) -> None:
        first = self._settings is None
        self._settings, self._heard = msg, clock.now()
        if first:
            self.wakeupAfter(msg.heartbeat_every)

    def receiveMsg_HoldLease(self, msg: HoldLease, sender) -> None:
        self._owners[msg.path] = msg.owner

    def receiveMsg_LeaseBeat(self, msg: LeaseBeat, sender) -> None:
        self._heard = clock.now()
        if self._lost:
            log.warning("member %s hears the leader again; its owners were stopped", msg.member)
            self._lost = False
        self.send(sender, LeaseAck(msg.member))

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        settings = self._settings
        if settings is None:
            return
        self.wakeupAfter(settings.heartbeat_every)
        now = clock.now()
        if self._lost or lease_state(self._heard, now, settings.lease_timeout) is Lease.HELD:
            return
        refused = _refuses(settings.leader)
        if lease_state(self._heard, now, settings.lease_timeout, leader_refused=refused) is Lease.HELD:
            return
        self._lost = True
        detail = (f"member {settings.member} heard no heartbeat from the convention's leader for "
                  f"{now - self._heard:.1f} s (lease {settings.lease_timeout:g} s)")
        log.error("%s: stopping %d owners and releasing their files", detail, len(self._owners))
        for owner in self._owners.values():
            self.send(owner, LeaseLost(detail))
        self._owners.clear()


def _refuses(leader: tuple[str, int] | None) -> bool:
    """True if the leader's admin port refuses a connection (its host is up, nothing listens)."""
    if leader is None:
        return False
    try:
        with socket.create_connection(leader, timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def start_keeper(actor, member: str, cluster) -> Any:
    """Create ``member``'s keeper from ``actor`` (the leader's Directory) and start its lease.

    The keeper probes the Directory's own port before giving a lease up: the Directory is
    what re-homes sessions, so if its port refuses connections nobody will.
    """
    keeper = actor.createActor(LeaseKeeper, targetActorRequirements={"sessionward.member": member})
    leader = None
    try:
        leader = tuple(actor.myAddress.addressDetails.connectArgs[0][:2])
    except (AttributeError, IndexError, TypeError):
        pass
    actor.send(keeper, StartLease(member, cluster.heartbeat_every, cluster.lease_timeout, leader))
    return keeper
