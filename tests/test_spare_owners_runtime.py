"""Spare owners end to end (multiprocTCPBase: a spare is a process of its own, forked by
the owner factory, the Directory's child)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import STREAM_IN, stopped, wait_for

from sessionward import OutcomeReason, Runtime, RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.hosting.system import children, process_group_members


def _factory(rt) -> int:
    """The owner factory's pid, once it answered its first request (the first refill)."""
    return wait_for(lambda: rt.status().factory_pid, 30, "the owner factory")


def _spares(factory: int, live: set[int]) -> set[int]:
    """The factory's children that own no session, each with its worker started."""
    spares = children(factory) - live
    return spares if all(len(children(s)) == 1 for s in spares) else set()


def _pool_of(factory: int, live: set[int], n: int) -> set[int] | None:
    spares = _spares(factory, live)
    return spares if len(spares) == n else None


@pytest.mark.worker_processes
def test_a_new_session_is_activated_on_a_spare_and_the_pool_is_refilled(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="hi {text}"), config=RuntimeConfig(spare_owners=2))
    factory = _factory(rt)
    assert factory in children(rt.status().pid), "the Directory forked the factory"
    before = wait_for(lambda: _pool_of(factory, set(), 2), 30, "two spares")
    outcome = rt.submit("agent:main:a", "one").result(timeout=30)
    assert (outcome.status, outcome.reply) == (TurnStatus.COMPLETED, "hi one")
    owner = rt.session("agent:main:a").pid
    assert owner in before, "the session's owner is a process that was started before it"
    after = wait_for(lambda: _pool_of(factory, {owner}, 2), 30,
                     "the pool refilled to two")
    assert len(after - before) == 1, "one new spare replaced the one taken"


@pytest.mark.worker_processes
def test_a_pool_emptied_by_a_burst_is_refilled_to_its_size_one_owner_at_a_time(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="hi {text}"), config=RuntimeConfig(spare_owners=3))
    factory = _factory(rt)
    before = wait_for(lambda: _pool_of(factory, set(), 3), 30, "three spares")
    keys = [f"agent:main:burst{n}" for n in range(4)]  # one more than there are spares
    handles = [rt.submit(key, "one") for key in keys]
    assert all(h.result(timeout=30).status is TurnStatus.COMPLETED for h in handles)
    live = {rt.session(key).pid for key in keys}
    assert len(live & before) == 3, "the spares served the burst"
    after = wait_for(lambda: _pool_of(factory, live, 3), 30, "the pool refilled to three")
    assert not after & before


def test_a_runtime_closed_while_its_spares_are_refilled_closes_without_waiting_out_thespian_s_limit(tmp_path):
    # Closing just after a burst of new sessions used to catch the factory forking a spare:
    # that owner missed its exit request and the shutdown waited Thespian's 10 s limit
    # (about one close in ten here). Close now first stops the pool and waits for the fork.
    for n in range(8):
        rt = Runtime(tmp_path / f"store{n}", base="tcp", provider=ScriptedProvider(reply="ok"), recovery=False)
        try:
            for k in range(3):
                assert rt.submit(f"agent:main:new{k}", "hi").result(timeout=30).status is TurnStatus.COMPLETED
        finally:
            began = time.monotonic()
            rt.close()
        assert time.monotonic() - began < 5.0, f"close {n} waited for an owner that missed its exit request"
        assert not process_group_members(rt._roots)


@pytest.mark.worker_processes
def test_a_spare_that_dies_is_replaced_and_its_worker_ends_with_it(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"), config=RuntimeConfig(spare_owners=1))
    factory = _factory(rt)
    (spare,) = wait_for(lambda: _pool_of(factory, set(), 1), 30, "a spare")
    (worker,) = children(spare)
    os.kill(spare, signal.SIGKILL)
    wait_for(lambda: worker not in process_group_members(rt._roots), 30, "the dead spare's worker to end")
    wait_for(lambda: spare not in (_pool_of(factory, set(), 1) or {spare}), 30, "a new spare")
    assert rt.submit("agent:main:b", "x").result(timeout=30).status is TurnStatus.COMPLETED


@pytest.mark.worker_processes
def test_a_spare_s_worker_that_cannot_end_itself_does_not_keep_its_dead_owner_s_file_from_the_successor(
        make_runtime):
    # Set up while it stood by, the worker ran the first turn. Stopped, it cannot read its
    # link's end; it ends with its owner all the same (the parent-death signal, and the
    # Directory, which knows its pid: tests/test_spare_standby.py), and the successor takes the file.
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="re {text}"), config=RuntimeConfig(spare_owners=1))
    factory = _factory(rt)
    (spare,) = wait_for(lambda: _pool_of(factory, set(), 1), 30, "a spare with its worker")
    (worker,) = children(spare)
    # Its link's thread runs once it took its StartWorker, just before its WorkerReady.
    wait_for(lambda: len(os.listdir(f"/proc/{worker}/task")) >= 2, 30, "the spare's worker set up")
    assert rt.submit("agent:main:d", "one").result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.session("agent:main:d").pid == spare
    assert children(spare) == {worker}, "the first turn ran on the worker started while standing by"
    resume = stopped(worker)  # it cannot read its link's end and exit by itself
    try:
        os.kill(spare, signal.SIGKILL)
        wait_for(lambda: worker not in process_group_members(rt._roots), 30, "the worker to end")
    finally:
        resume()
    after = rt.submit("agent:main:d", "two").result(timeout=30)
    assert (after.status, after.reply) == (TurnStatus.COMPLETED, "re two")


def test_with_no_spares_the_factory_forks_an_owner_when_a_session_needs_one(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"), config=RuntimeConfig(spare_owners=0))
    directory = rt.status().pid
    (factory,) = children(directory)
    assert children(factory) == set(), "no spares: nothing forked before a session needs it"
    assert rt.submit("agent:main:c", "x").result(timeout=30).status is TurnStatus.COMPLETED
    assert children(factory) == {rt.session("agent:main:c").pid}
    assert rt.status().factory_pid == factory


@pytest.mark.parametrize("abort", [False, True])
def test_without_a_spare_a_first_turn_runs_from_its_acceptance_and_can_be_aborted_at_once(make_runtime, abort):
    # The owner forks its worker only once its TurnAccepted is out, but the turn is running
    # from the start: queue policy (steer, interrupt, collect) and an abort see it so.
    provider = ScriptedProvider(reply="got: {text}", hang_after=0, only_when="block")
    rt = make_runtime(base="tcp", provider=provider, config=RuntimeConfig(spare_owners=0))
    blocker = rt.submit("agent:main:c", "block")
    assert blocker.wait_accepted(30)
    assert rt.session("agent:main:c").turn_id == blocker.turn_id
    if not abort and STREAM_IN != "owner":  # else aborted at once, maybe before the worker is forked
        wait_for(lambda: len(children(rt.session("agent:main:c").pid)) == 1, 30, "the owner's worker")
    assert rt.abort("agent:main:c", blocker.turn_id).ok
    outcome = blocker.result(timeout=30)
    assert (outcome.status, outcome.reason) == (TurnStatus.CANCELLED, OutcomeReason.ABORTED)
    after = rt.submit("agent:main:c", "next").result(timeout=30)
    assert (after.status, after.reply) == (TurnStatus.COMPLETED, "got: next")
