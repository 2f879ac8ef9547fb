"""The Directory's pool of spare owners, without an actor system."""

from __future__ import annotations

from sessionward.actors.spare_owners import SparePool


def _pool(size: int = 2, *spares: str) -> SparePool:
    return SparePool(size, list(spares))


def test_an_empty_pool_wants_its_size_and_arms_one_refill_for_any_number_of_takes():
    pool = _pool(2)
    assert pool.take() is None
    assert pool.arm_refill() is True
    assert pool.arm_refill() is False, "one timer is enough"
    assert pool.refill_due() == 2
    assert pool.refill_armed is False


def test_spares_are_taken_oldest_first_and_each_take_leaves_one_to_start():
    pool = _pool(2, "a", "b")
    assert pool.wanted() == 0 and pool.arm_refill() is False
    assert pool.take() == "a"
    assert pool.wanted() == 1 and pool.arm_refill() is True
    pool.add(pool.take() or "")
    assert pool.spares == ["b"]


def test_a_refill_starts_only_what_is_missing_when_it_fires():
    pool = _pool(3, "a")
    assert pool.arm_refill()
    pool.add("b")  # started by an earlier refill meanwhile
    assert pool.refill_due() == 1


def test_a_spare_that_exits_is_forgotten_and_any_other_child_is_not_a_spare():
    pool = _pool(2, "a", "b")
    assert pool.forget("owner-of-a-session") is False
    assert pool.forget("a") is True
    assert pool.spares == ["b"] and pool.wanted() == 1


def test_a_pool_of_size_zero_never_starts_a_spare():
    pool = _pool(0)
    assert pool.take() is None and pool.wanted() == 0 and pool.arm_refill() is False


def test_closing_hands_back_every_spare_and_nothing_is_started_again():
    pool = _pool(2, "a", "b")
    assert pool.close() == ["a", "b"]
    assert pool.spares == [] and pool.wanted() == 0 and pool.arm_refill() is False
    assert pool.refill_due() == 0
