"""The owner factory end to end (multiprocTCPBase): owners are forked by a process of their
own, the Directory's child, and a factory that dies or stops answering costs no session."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from conftest import stopped, streams_started, wait_for

from benchmarks.workloads.measure import parent_pid
from sessionward import RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.actors.directory_lifecycle import FACTORY_RESTART_AFTER
from sessionward.actors.spare_owners import FORK_WAIT
from sessionward.hosting import immortal_heap
from sessionward.hosting.system import children


def _completed(rt, key: str, text: str) -> bool:
    outcome = rt.submit(key, text).result(timeout=30)
    return outcome.status is TurnStatus.COMPLETED and outcome.reply == f"re {text}"


def test_every_owner_is_forked_by_the_factory_spare_or_not(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="re {text}"), config=RuntimeConfig(spare_owners=1))
    keys = [f"agent:main:s{n}" for n in range(4)]
    handles = [rt.submit(key, "hello") for key in keys]  # more at once than there are spares
    assert all(h.result(timeout=30).status is TurnStatus.COMPLETED for h in handles)
    factory = rt.status().factory_pid
    assert factory and parent_pid(factory) == rt.status().pid
    assert {parent_pid(rt.session(key).pid) for key in keys} == {factory}


def _private_dirty_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:"))


@pytest.mark.skipif(not immortal_heap.supported(), reason=f"CPython {sys.version.split()[0]} has no immortal objects")
def test_an_owner_forked_from_an_immortal_factory_heap_copies_less_of_it(make_runtime, tmp_path):
    def owner_after_two_turns(immortal: bool) -> int:
        rt = make_runtime(tmp_path / f"store-{immortal}", base="tcp", provider=ScriptedProvider(reply="re {text}"),
                          config=RuntimeConfig(spare_owners=1, immortal_factory_heap=immortal))
        assert _completed(rt, "agent:main:a", "one") and _completed(rt, "agent:main:a", "two")
        kib = _private_dirty_kib(rt.session("agent:main:a").pid)
        rt.close()
        return kib

    mortal, immortal = owner_after_two_turns(False), owner_after_two_turns(True)
    assert immortal < 0.7 * mortal, (mortal, immortal)  # 3.12: about 7 MiB against 3


def test_a_dead_factory_s_owners_are_replaced_and_a_new_factory_starts(make_runtime, count_file):
    provider = ScriptedProvider(reply="re {text}", chunks=20, chunk_delay=0.05, count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, config=RuntimeConfig(spare_owners=1))
    assert _completed(rt, "agent:main:a", "one")
    old, owner = rt.status().factory_pid, rt.session("agent:main:a").pid
    assert parent_pid(owner) == old
    running_turn = rt.submit("agent:main:a", "two")
    wait_for(lambda: running_turn.turn_id in streams_started(count_file), 30, "the turn to stream")
    os.kill(old, signal.SIGKILL)  # its owners die with it
    # The turn that was streaming is replayed by the successor and answered once.
    outcome = running_turn.result(timeout=30)
    assert (outcome.status, outcome.reply) == (TurnStatus.COMPLETED, "re two")
    assert rt.session("agent:main:a").pid not in (owner, 0)
    assert _completed(rt, "agent:main:b", "three"), "a new session meanwhile: forked by the Directory"
    new = wait_for(lambda: rt.status().factory_pid not in (0, old) and rt.status().factory_pid,
                   FACTORY_RESTART_AFTER + 30, "a new factory")
    assert parent_pid(new) == rt.status().pid
    assert _completed(rt, "agent:main:c", "four")
    assert parent_pid(rt.session("agent:main:c").pid) == new
    assert rt.status().owners_replaced == 1


def test_a_factory_that_does_not_answer_delays_an_activation_by_at_most_fork_wait(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="re {text}"), config=RuntimeConfig(spare_owners=0))
    directory = rt.status().pid
    (factory,) = children(directory)
    resume = stopped(factory)
    try:
        handle = rt.submit("agent:main:a", "one")
        outcome = handle.result(timeout=FORK_WAIT + 30)
        assert (outcome.status, outcome.reply) == (TurnStatus.COMPLETED, "re one")
        assert parent_pid(rt.session("agent:main:a").pid) == directory, "forked by the Directory itself"
    finally:
        resume()
    # Its late owner is not wanted (no spares): it is ended, and the factory serves again.
    wait_for(lambda: children(factory) == set(), 30, "the factory's late owner to end")
    assert _completed(rt, "agent:main:b", "two")
    assert parent_pid(rt.session("agent:main:b").pid) == factory
