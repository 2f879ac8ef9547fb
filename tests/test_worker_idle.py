"""An idle owner ends its worker after ``worker_idle_timeout`` and starts one for the next turn."""

from __future__ import annotations

import pytest
from conftest import wait_for

from sessionward import RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.actors.admin_protocol import OwnerPhase
from sessionward.actors.ledger import Ticket
from sessionward.actors.owner_state import retires_worker
from sessionward.actors.streaming import TurnRun
from sessionward.hosting.system import children, process_group_members
from sessionward.lanes import queue_policy as qp

IDLE, RUNNING = OwnerPhase.IDLE, OwnerPhase.RUNNING
TIMEOUT = 30.0
EMPTY = qp.SessionQueue()


def _retires(phase=IDLE, run=None, queue=EMPTY, *, has_worker=True, idle_since=100.0, now=130.0):
    return retires_worker(phase, run, queue, has_worker=has_worker, idle_since=idle_since, timeout=TIMEOUT, now=now)


def _ticket() -> Ticket:
    return Ticket("t1", "main", "hi", qp.QueueMode.FOLLOWUP, 1.0, "addr", "req-t1")


def test_an_owner_idle_for_worker_idle_timeout_retires_its_worker():
    assert _retires(now=130.0)


def test_an_owner_idle_for_less_than_worker_idle_timeout_keeps_its_worker():
    assert not _retires(now=120.0)


def test_a_timer_armed_by_an_earlier_turn_does_not_retire_the_worker_of_a_later_one():
    # the timer of a turn that ended at 100 fires at 130; another turn ended at 125 since
    assert not _retires(idle_since=125.0, now=130.0)


def test_a_running_turn_or_a_queued_one_keeps_the_worker():
    assert not _retires(RUNNING, TurnRun(_ticket(), 90.0, 90.0), now=200.0)
    queued = qp.restore(qp.SessionQueue(), qp.PendingTurn("t2", "main", "x", qp.QueueMode.FOLLOWUP, 99.0))
    assert not _retires(queue=queued, now=200.0)


def test_an_owner_without_a_worker_or_past_idle_retires_nothing():
    assert not _retires(has_worker=False, now=200.0)
    for phase in (OwnerPhase.DRAINING, OwnerPhase.FENCED, OwnerPhase.STOPPING, OwnerPhase.STARTING):
        assert not _retires(phase, now=200.0)


def test_worker_idle_timeout_must_be_positive():
    with pytest.raises(ValueError, match="worker_idle_timeout"):
        RuntimeConfig(worker_idle_timeout=0)


@pytest.mark.worker_processes
def test_an_idle_session_keeps_one_process_and_its_next_turn_starts_a_worker_again(make_runtime):
    config = RuntimeConfig(worker_idle_timeout=0.3)
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="hi {text}"), config=config)
    first = rt.submit("agent:main:main", "one").result(timeout=30)
    assert first.status is TurnStatus.COMPLETED
    owner = rt.session("agent:main:main").pid
    # The worker is forked by its owner: the owner's only child process.
    wait_for(lambda: not children(owner), 30, "the idle owner's worker to end")
    assert owner in process_group_members(rt._roots), "the owner itself stays live"
    second = rt.submit("agent:main:main", "two").result(timeout=30)
    assert (second.status, second.reply) == (TurnStatus.COMPLETED, "hi two")
    assert rt.session("agent:main:main").pid == owner, "the same owner ran the turn"
    assert len(children(owner)) == 1, "the turn started one worker"
