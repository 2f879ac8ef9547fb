"""The convention as the Directory sees it: members, placement, re-homing (no actor system)."""

from __future__ import annotations

import types

from sessionward.actors.membership import DEAD_LOCK_WAIT, REHOME_LOCK_WAIT, Membership, admin_host_port
from sessionward.actors.owner_slots import OwnerSlot, SlotTable
from sessionward.config import ClusterConfig


def _slot(path: str, member: str) -> OwnerSlot:
    return OwnerSlot(path, "k", "id", ["k"], member=member)


def test_without_a_convention_there_is_one_member_and_no_member_updates():
    members = Membership()
    assert members.own == "local" and members.names() == ["local"]
    assert not members.is_member_update("b")


def test_updates_about_other_members_concern_the_leader():
    members = Membership(ClusterConfig(member="a"))
    assert members.is_member_update("b")
    assert not members.is_member_update("a") and not members.is_member_update(None)


def test_a_member_leaves_once():
    members = Membership(ClusterConfig(member="a"))
    members.join("b", "addr-b")
    assert members.leave("b") is True
    assert members.leave("b") is False
    assert members.names() == ["a"]


def test_a_new_owner_is_never_placed_on_a_member_that_left():
    members = Membership(ClusterConfig(member="a", placement="least_loaded"))
    members.join("b", "addr-b")
    slots = SlotTable()
    slots.add(_slot("/x", "a"))
    slots.add(_slot("/y", "gone"))  # still named by a slot, but not a member
    assert members.place("/z", "k", slots) == "b"  # least loaded of the live ones
    members.leave("b")
    assert members.place("/z", "k", slots) == "a"


def test_re_homing_is_timed_from_the_loss_to_the_successor_going_live():
    members = Membership(ClusterConfig(member="a"))
    lost = OwnerSlot("/x", "k", "id", ["k"], address="old", member="b")
    successor = _slot("/x", "a")
    members.rehoming(successor, lost, now=100.0)
    assert (successor.rehome_started, successor.lost_owner, members.rehomed) == (100.0, "old", 1)
    members.went_live(successor, now=103.5)
    assert members.last_rehome == 3.5 and successor.rehome_started is None


def test_a_re_homed_session_waits_for_a_locked_file_only_within_the_wait():
    members = Membership(ClusterConfig(member="a"))
    slot = _slot("/x", "a")
    assert not members.waits_for_lock(slot, "owned_elsewhere", 0.0)  # not re-homed
    slot.rehome_started = 0.0
    assert not members.waits_for_lock(slot, "corrupt_transcript", 1.0)
    assert not members.waits_for_lock(slot, "owned_elsewhere", REHOME_LOCK_WAIT)
    assert members.waits_for_lock(slot, "owned_elsewhere", 1.0)
    assert members.waiting == {"/x": slot}


def test_an_admin_address_gives_its_host_and_port_or_none():
    address = types.SimpleNamespace(addressDetails=types.SimpleNamespace(connectArgs=[("10.0.0.2", 1900)]))
    assert admin_host_port(address) == ("10.0.0.2", 1900)
    assert admin_host_port(None) is None
    assert admin_host_port(types.SimpleNamespace(addressDetails=types.SimpleNamespace(connectArgs=[]))) is None


def test_the_successor_of_a_dead_owner_waits_for_a_lock_still_held_but_not_for_ever():
    members = Membership()
    slot = OwnerSlot("/s/a.jsonl", "agent:main:a", "a", ["agent:main:a"], replaces_dead_since=100.0)
    assert members.waits_for_dead_owners_lock(slot, "owned_elsewhere", 100.05)
    assert members.waiting["/s/a.jsonl"] is slot
    assert not members.waits_for_dead_owners_lock(slot, "owned_elsewhere", 100.0 + DEAD_LOCK_WAIT)
    assert not members.waits_for_dead_owners_lock(slot, "corrupt_transcript", 100.05)
    fresh = OwnerSlot("/s/b.jsonl", "agent:main:b", "b", ["agent:main:b"])
    assert not members.waits_for_dead_owners_lock(fresh, "owned_elsewhere", 100.05)
