"""Placement of owners on convention members, and owner epochs. Pure."""

import pytest

from sessionward.actors.placement import (
    NoMemberError,
    Strategy,
    epochs_in_order,
    next_epoch,
    place,
    rendezvous_order,
)

MEMBERS = {"m1": 0, "m2": 0, "m3": 0}


def test_hash_placement_is_stable_and_spreads_sessions():
    placed = [place(f"/s/{i}.jsonl", "agent:main:x", MEMBERS) for i in range(300)]
    assert placed == [place(f"/s/{i}.jsonl", "agent:main:x", dict(MEMBERS)) for i in range(300)]
    assert all(placed.count(m) > 60 for m in MEMBERS)


def test_losing_a_member_moves_only_its_sessions():
    before = {i: place(f"/s/{i}.jsonl", "k", MEMBERS) for i in range(300)}
    after = {i: place(f"/s/{i}.jsonl", "k", {"m1": 0, "m2": 0}) for i in range(300)}
    moved = [i for i in before if before[i] != after[i]]
    assert moved and all(before[i] == "m3" for i in moved)


def test_least_loaded_prefers_the_emptiest_member():
    assert place("/s/a.jsonl", "k", {"m1": 5, "m2": 1, "m3": 3}, strategy=Strategy.LEAST_LOADED) == "m2"


def test_a_pin_wins_while_its_member_is_live():
    pins = {"agent:ops:*": "m3"}
    assert place("/s/a.jsonl", "agent:ops:main", MEMBERS, pins=pins) == "m3"
    assert place("/s/a.jsonl", "agent:ops:main", {"m1": 0}, pins=pins) == "m1"


def test_no_live_member_is_a_typed_error():
    with pytest.raises(NoMemberError):
        place("/s/a.jsonl", "k", {})


def test_rendezvous_order_lists_every_member_once():
    assert sorted(rendezvous_order("/x", ["a", "b", "c"])) == ["a", "b", "c"]


def test_epochs_must_not_decrease_in_file_order():
    assert epochs_in_order([{"ownerEpoch": 1}, {}, {"ownerEpoch": 1}, {"ownerEpoch": 2}])
    assert not epochs_in_order([{"ownerEpoch": 2}, {"ownerEpoch": 1}])
    assert next_epoch([{"ownerEpoch": 3}, {"type": "session"}]) == 4
    assert next_epoch([]) == 1
