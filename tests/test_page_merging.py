"""An idle owner offers its pages to the kernel's same-page merging (KSM): the rule, the
call, and an owner doing it once idle (multiprocTCPBase), not before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import wait_for

from sessionward import RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.actors.admin_protocol import OwnerPhase
from sessionward.actors.ledger import Ticket
from sessionward.actors.owner_state import offers_pages
from sessionward.actors.streaming import TurnRun
from sessionward.hosting import page_merging
from sessionward.hosting.system import children
from sessionward.lanes import queue_policy as qp

IDLE, RUNNING = OwnerPhase.IDLE, OwnerPhase.RUNNING
EMPTY = qp.SessionQueue()


def _offers(phase=IDLE, run=None, queue=EMPTY, *, enabled=True, offered=False, own_process=True, idle_since=100.0,
            now=130.0):
    return offers_pages(phase, run, queue, enabled=enabled, offered=offered, own_process=own_process,
                        idle_since=idle_since, timeout=30.0, now=now)


def test_an_owner_idle_for_worker_idle_timeout_offers_its_pages_once():
    assert _offers(now=130.0)
    assert not _offers(offered=True, now=500.0), "once is enough: the kernel keeps the mark"


def test_a_busy_owner_or_one_idle_for_less_offers_nothing():
    assert not _offers(now=120.0)
    assert not _offers(idle_since=125.0, now=130.0), "a later turn moved its idle time"
    ticket = Ticket("t1", "main", "hi", qp.QueueMode.FOLLOWUP, 1.0, "addr", "req-t1")
    assert not _offers(RUNNING, TurnRun(ticket, 90.0, 90.0), now=200.0)
    queued = qp.restore(qp.SessionQueue(), qp.PendingTurn("t2", "main", "x", qp.QueueMode.FOLLOWUP, 99.0))
    assert not _offers(queue=queued, now=200.0)


def test_merge_idle_pages_off_offers_nothing():
    assert not _offers(enabled=False, now=500.0)


def test_an_owner_sharing_its_process_offers_nothing():
    # simpleSystemBase: the owner runs in the process that started the runtime.
    assert not _offers(own_process=False, now=500.0)


def test_an_owner_on_simple_system_base_never_offers_the_embedding_process_s_pages(make_runtime):
    assert not page_merging.merging_allowed(), "this test process starts unmarked"
    config = RuntimeConfig(worker_idle_timeout=0.1, idle_timeout=0.5)
    rt = make_runtime(base="simple", provider=ScriptedProvider(reply="hi {text}"), config=config)
    assert rt.submit("agent:main:main", "one").result(timeout=30).status is TurnStatus.COMPLETED
    # Its WorkerIdleCheck falls due before its IdleCheck: once it has passivated, the
    # handler that would have offered the pages has run.
    wait_for(lambda: rt.status().live_owners == 0, 30, "the idle owner to passivate")
    assert not page_merging.merging_allowed()


def _in_a_child(job) -> int:
    """``job()``'s result (a small int) from a forked child, so this process is not marked."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, bytes([job()]))
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    return data[0] if data else 255


def _kernel_takes_it() -> bool:
    return _in_a_child(lambda: int(page_merging.allow_merging() and page_merging.merging_allowed())) == 1


needs_memory_merge = pytest.mark.skipif(not _kernel_takes_it(), reason="PR_SET_MEMORY_MERGE needs Linux 6.4")


@needs_memory_merge
def test_allow_merging_marks_this_process_and_the_children_it_forks_later():
    def job() -> int:
        before = page_merging.merging_allowed()
        allowed = page_merging.allow_merging()
        child = _in_a_child(lambda: int(page_merging.merging_allowed()))
        return int(not before) + 2 * int(allowed) + 4 * int(child == 1)

    assert _in_a_child(job) == 7


def test_ksm_state_is_read_without_raising_whatever_the_host():
    assert isinstance(page_merging.ksm_running(), bool)
    assert page_merging.merged_pages(os.getpid()) >= 0
    assert page_merging.merged_pages(2**22 + 12345) == 0, "no such process: 0"


def _mergeable_mappings(pid: int) -> int:
    """How many of ``pid``'s mappings carry the kernel's ``mg`` flag (KSM may merge them)."""
    flags = [line.split()[1:] for line in Path(f"/proc/{pid}/smaps").read_text().splitlines()
             if line.startswith("VmFlags:")]
    return sum("mg" in f for f in flags)


@needs_memory_merge
def test_an_owner_offers_its_pages_once_idle_for_worker_idle_timeout_and_not_before(make_runtime):
    config = RuntimeConfig(worker_idle_timeout=3.0)
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="hi {text}"), config=config)
    assert rt.submit("agent:main:main", "one").result(timeout=30).status is TurnStatus.COMPLETED
    owner = rt.session("agent:main:main").pid
    assert _mergeable_mappings(owner) == 0, "a busy owner's pages are not offered"
    wait_for(lambda: _mergeable_mappings(owner) > 0, 30, "the idle owner to offer its pages")
    second = rt.submit("agent:main:main", "two").result(timeout=30)
    assert (second.status, second.reply) == (TurnStatus.COMPLETED, "hi two"), "and it serves on"


@needs_memory_merge
@pytest.mark.worker_processes
def test_with_merge_idle_pages_off_an_idle_owner_offers_nothing(make_runtime):
    config = RuntimeConfig(worker_idle_timeout=1.0, merge_idle_pages=False)
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="hi {text}"), config=config)
    assert rt.submit("agent:main:main", "one").result(timeout=30).status is TurnStatus.COMPLETED
    owner = rt.session("agent:main:main").pid
    # The handler that ends the idle owner's worker is the one that would offer its pages.
    wait_for(lambda: not children(owner), 30, "the idle owner's worker to end")
    assert _mergeable_mappings(owner) == 0
