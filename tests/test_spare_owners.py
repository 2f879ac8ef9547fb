"""The Directory's pool of spare owners, without an actor system."""

from __future__ import annotations

from sessionward.actors.spare_owners import FORK_WAIT, SparePool, WaitingActivation


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


# -- owners asked of the factory (``actors/owner_factory.py``) ------------------------------


def _waiting(path: str, since: float = 0.0) -> WaitingActivation:
    return WaitingActivation(path, since)


def _always(_path: str) -> bool:
    return True


def test_owners_asked_of_the_factory_count_against_what_a_refill_wants():
    pool = _pool(2)
    request = pool.ask(2, now=0.0)
    assert pool.coming() == 2 and pool.wanted() == 0, "two on the way: nothing more to ask"
    done = pool.forked(request, ("a", "b"), _always)
    assert (done.spares, pool.spares, pool.coming()) == (["a", "b"], ["a", "b"], 0)


def test_the_factory_is_asked_for_one_spare_at_a_time_and_for_the_next_when_it_comes():
    pool = _pool(3)
    assert pool.to_ask() == 1, "an empty pool of three asks for one"
    first = pool.ask(pool.to_ask(), now=0.0)
    assert pool.to_ask() == 0, "nothing more while the pool's own is on the way"
    pool.forked(first, ("a",), _always)
    assert pool.to_ask() == 1, "the next once it has come"
    second = pool.ask(1, now=0.0)
    pool.forked(second, ("b",), _always)
    pool.forked(pool.ask(pool.to_ask(), now=0.0), ("c",), _always)
    assert (pool.spares, pool.to_ask()) == (["a", "b", "c"], 0), "full: nothing to ask"


def test_an_owner_on_the_way_for_a_waiting_activation_does_not_stop_the_pool_asking_for_its_own():
    pool = _pool(1)
    assert pool.wait(_waiting("s1")) is True
    pool.ask(1, now=0.0)  # the activation's
    assert pool.to_ask() == 1, "that owner is the activation's, not the pool's"
    pool.ask(1, now=0.0)
    assert pool.to_ask() == 0


def test_a_closed_pool_or_one_of_size_zero_asks_for_nothing():
    closed = _pool(2)
    closed.close()
    assert (closed.to_ask(), _pool(0).to_ask()) == (0, 0)


def test_an_activation_asks_for_an_owner_only_when_none_already_asked_for_is_free():
    pool = _pool(1)
    pool.ask(1, now=0.0)  # a refill's, on the way
    assert pool.wait(_waiting("s1")) is False, "the refill's owner goes to it"
    assert pool.wanted() == 1, "and the pool must ask again for its spare"
    assert pool.wait(_waiting("s2")) is True


def test_the_factory_s_owners_go_to_waiting_activations_oldest_first_and_the_rest_to_the_pool():
    pool = _pool(1)
    pool.wait(_waiting("old"))
    pool.wait(_waiting("new"))
    request = pool.ask(3, now=0.0)
    done = pool.forked(request, ("a", "b", "c"), _always)
    assert [(w.path, a) for w, a in done.activate] == [("old", "a"), ("new", "b")]
    assert (done.spares, done.surplus, done.fork_here) == (["c"], [], [])


def test_an_owner_nobody_wants_any_more_is_surplus():
    pool = _pool(0)
    pool.wait(_waiting("gone"))
    request = pool.ask(1, now=0.0)
    done = pool.forked(request, ("a",), lambda path: path != "gone")
    assert (done.activate, done.spares, done.surplus) == ([], [], ["a"])


def test_a_failed_fork_leaves_its_activation_to_be_forked_here():
    pool = _pool(0)
    pool.wait(_waiting("s1"))
    pool.wait(_waiting("s2"))
    request = pool.ask(2, now=0.0)
    done = pool.forked(request, ("a",), _always)  # and one failed
    assert [(w.path, a) for w, a in done.activate] == [("s1", "a")]
    assert [w.path for w in done.fork_here] == ["s2"]
    assert pool.waiting == []


def test_an_activation_waits_for_the_factory_at_most_fork_wait_and_a_late_owner_becomes_a_spare():
    pool = _pool(1)
    pool.wait(_waiting("s1", since=10.0))
    request = pool.ask(1, now=10.0)
    assert pool.overdue(now=10.0 + FORK_WAIT - 0.1) == []
    (late,) = pool.overdue(now=10.0 + FORK_WAIT)
    assert late.path == "s1" and pool.coming() == 0
    done = pool.forked(request, ("a",), _always)
    assert (done.activate, done.spares) == ([], ["a"])


def test_a_lost_factory_hands_back_its_waiting_activations_and_its_spares():
    pool = _pool(2, "a", "b")
    pool.wait(_waiting("s1"))
    pool.ask(1, now=0.0)
    waiting, spares = pool.factory_lost()
    assert ([w.path for w in waiting], spares) == (["s1"], ["a", "b"])
    assert pool.coming() == 0 and pool.wanted() == 2

