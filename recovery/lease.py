"""Silent members and owner leases in a convention. Pure: every rule takes ``now``.

A partition produces no refused connection and no exit notice: a cut-off member is alive,
holds its files' locks and keeps streaming, and Thespian notices it only after three
missed check-ins (22 minutes by default). So the leader heartbeats every member
(``heartbeat_every``) and each member's lease keeper answers. Two clocks then run, one on
each side of a partition, and neither side needs to hear the other to act:

* the **leader** declares a member gone when it has answered no heartbeat for
  ``member_timeout`` (``silent_members``), and re-homes its sessions;
* the **member** ends its owners' running turns (``lease_lost``) and releases their files
  when it has heard no heartbeat for ``lease_timeout`` (``lease_state``).

``lease_timeout`` is shorter than ``member_timeout`` by at least two heartbeats (one for the
member's check granularity, one for the answer's way back), so a cut-off member has
stopped writing before the leader places its sessions elsewhere. The file lock is the
second fence (a re-homed owner waits for it), and ``ownerEpoch`` on every entry the third
(a late write is visible in the file). The two clocks are on different hosts: only their
*rates* must agree (they count elapsed seconds from their own last event), not their time.

A member whose leader *refuses* connections keeps its lease: nothing listens there, so no
leader is alive to re-home its sessions, and its turns can finish (the leader-loss rule
in docs/several-machines.md). Only silence ends a lease.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


def check_timeouts(heartbeat_every: float, lease_timeout: float, member_timeout: float) -> None:
    """Raise ValueError unless ``0 < heartbeat_every`` and
    ``lease_timeout + 2 * heartbeat_every <= member_timeout``."""
    if not heartbeat_every > 0:
        raise ValueError(f"heartbeat_every must be positive, got {heartbeat_every}")
    if not lease_timeout >= heartbeat_every:
        raise ValueError(f"lease_timeout ({lease_timeout}) must be at least heartbeat_every ({heartbeat_every})")
    if not lease_timeout + 2 * heartbeat_every <= member_timeout:
        raise ValueError(
            f"member_timeout ({member_timeout}) must be at least lease_timeout + 2 x heartbeat_every "
            f"({lease_timeout + 2 * heartbeat_every}): a cut-off member must stop writing before its "
            "sessions are given to another")


def silent_members(last_heard: Mapping[str, float], now: float, member_timeout: float) -> list[str]:
    """Members (sorted) that answered no heartbeat for ``member_timeout`` seconds or more.

    ``last_heard`` maps each watched member to its last answer (or to when watching began).
    """
    return sorted(name for name, heard in last_heard.items() if now - heard >= member_timeout)


class Lease(enum.StrEnum):
    HELD = "held"
    """Heard from the leader within the lease time (or it refuses connections: it is dead)."""
    LOST = "lost"
    """Silent for the lease time: stop writing, release every file."""


def lease_state(last_heard: float, now: float, lease_timeout: float, *, leader_refused: bool = False) -> Lease:
    """Whether a member still holds its lease, given when it last heard the leader.

    Args:
        last_heard: When the last heartbeat arrived (or when the lease began).
        now: The current time, same clock.
        lease_timeout: Seconds of silence that end the lease.
        leader_refused: The leader's admin port refused a connection just now (its host
            answered and nothing listens): a dead leader re-homes nothing, so the lease holds.
    """
    if now - last_heard < lease_timeout or leader_refused:
        return Lease.HELD
    return Lease.LOST
