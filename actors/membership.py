"""The convention as the Directory sees it: live members, where a new owner goes, and the
re-homing of a lost member's sessions. Pure (given ``now``).

Without a convention there is one member, ``local``, and nothing to place. With one, a
member joins when Thespian reports it (``ActorSystemConventionUpdate``) and leaves when
Thespian says so or ``MemberWatch`` finds its admin port refusing connections. Its
sessions are then *re-homed*: a successor owner for each starts on another member. A
member declared gone may in fact be alive and slow; its owners still hold their files'
locks, so a successor that finds its file locked *waits* (its messages held) and tries
again every ``REHOME_RETRY_AFTER`` seconds, up to ``REHOME_LOCK_WAIT``. The lock is what
keeps two owners from ever both writing one file.
"""

from __future__ import annotations

from typing import Any

from sessionward.actors.owner_slots import OwnerSlot, SlotTable
from sessionward.actors.placement import Strategy, place
from sessionward.config import ClusterConfig

REHOME_LOCK_WAIT = 120.0
"""How long a re-homed session waits for a lost-but-alive owner to release its file."""
REHOME_RETRY_AFTER = 1.0
"""Seconds between a waiting re-homed session's attempts to take its file."""
DEAD_LOCK_WAIT = 10.0
"""How long the successor of an owner that died here waits for its file's lock. A dead
process lets go of its locks as the kernel closes its files, which can come a moment
after its death is seen; a spare owner activates in a few milliseconds, and under CPU load
it met the lock still held (a test saw the session answer ``passive`` with a turn owed)."""
DEAD_LOCK_RETRY_AFTER = 0.1
"""Seconds between the attempts of such a successor to take its file."""


class Membership:
    """Live members, placement, and re-homing figures. ``cluster`` None: one member, no convention."""

    def __init__(self, cluster: ClusterConfig | None = None) -> None:
        self.cluster = cluster
        self.own = cluster.member if cluster is not None else "local"
        """This system's member name (the leader's, where the Directory runs)."""
        self._members: dict[str, Any] = {self.own: None}
        """Live members: name -> admin address (None for this system)."""
        self.rehomed = 0
        """Sessions re-homed since the Directory started."""
        self.last_rehome: float | None = None
        """Seconds from a member's loss to the activation of the last of its sessions re-homed."""
        self.waiting: dict[str, OwnerSlot] = {}
        """Re-homed files whose lock was still held, by path: retried every REHOME_RETRY_AFTER."""

    def is_member_update(self, name: str | None) -> bool:
        """Whether a convention update about ``name`` concerns the Directory (another
        sessionward member of its convention)."""
        return self.cluster is not None and bool(name) and name != self.own

    def join(self, name: str, admin_address: Any) -> None:
        self._members[name] = admin_address

    def leave(self, name: str) -> bool:
        """Forget ``name``. False if it was not a live member (already gone)."""
        return self._members.pop(name, self) is not self

    def names(self) -> list[str]:
        return list(self._members)

    def place(self, path: str, session_key: str, slots: SlotTable) -> str:
        """The live member a new owner of ``path`` goes to (see ``placement.place``)."""
        assert self.cluster is not None, "placement needs a convention"
        loads = {m: n for m, n in slots.loads(self._members).items() if m in self._members}
        member: str = place(path, session_key, loads, strategy=Strategy(self.cluster.placement),
                            pins=dict(self.cluster.pins))
        return member

    def rehoming(self, successor: OwnerSlot, lost: OwnerSlot, now: float) -> None:
        """``successor`` replaces ``lost``, whose member is gone (``lost`` may be alive)."""
        self.rehomed += 1
        successor.rehome_started, successor.lost_owner = now, lost.address

    def went_live(self, slot: OwnerSlot, now: float) -> None:
        """``slot``'s owner is live: if it was re-homed, that took until ``now``."""
        if slot.rehome_started is not None:
            self.last_rehome = now - slot.rehome_started
            slot.rehome_started = None

    def waits_for_lock(self, slot: OwnerSlot, failure_kind: str, now: float) -> bool:
        """Whether a failed activation is a re-homed session finding its file still locked
        (the lost owner lives: a slow member, not a dead one) and within ``REHOME_LOCK_WAIT``.
        Then the slot waits in ``waiting`` and the caller retries after ``REHOME_RETRY_AFTER``."""
        if (failure_kind == "owned_elsewhere" and slot.rehome_started is not None
                and now - slot.rehome_started < REHOME_LOCK_WAIT):
            self.waiting[slot.path] = slot
            return True
        return False

    def waits_for_dead_owners_lock(self, slot: OwnerSlot, failure_kind: str, now: float) -> bool:
        """Whether a failed activation is the successor of an owner that died on this member
        finding the file still locked, within ``DEAD_LOCK_WAIT`` of the death. Then the slot
        waits in ``waiting`` (messages held) and the caller retries after
        ``DEAD_LOCK_RETRY_AFTER``."""
        if (failure_kind == "owned_elsewhere" and slot.replaces_dead_since is not None
                and now - slot.replaces_dead_since < DEAD_LOCK_WAIT):
            self.waiting[slot.path] = slot
            return True
        return False


def admin_host_port(admin_address: Any) -> tuple[str, int] | None:
    """Host and port of a member's admin address (a Thespian ``ActorAddress``), for
    ``MemberWatch``; None when it has none (it cannot be watched)."""
    try:
        host, port = admin_address.addressDetails.connectArgs[0][:2]
    except (AttributeError, IndexError, TypeError):
        return None
    return host, port
