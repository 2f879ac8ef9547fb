"""The admin's host watch: waiting for a process, by pidfd or by polling its identity."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import attrs
import pytest

from sessionward.hosting import lifetime
from sessionward.hosting.ownership import ProcessFacts
from sessionward.hosting.processes import process_facts


@pytest.fixture(params=["pidfd", "polling"])
def wait_mode(request, monkeypatch):
    if request.param == "polling":
        monkeypatch.delattr(os, "pidfd_open", raising=False)  # as on a system without pidfds
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd here")
    return request.param


def test_waiting_for_a_process_returns_once_it_exits(wait_mode):
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        facts = process_facts(child.pid)
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (lifetime.wait_for_exit(facts), done.set()))
        waiter.start()
        assert not done.wait(0.5), "returned while the process still ran"
        child.stdin.close()  # the child reads EOF and exits
        assert done.wait(5), "did not return within 5 s of the exit"
        waiter.join()
    finally:
        child.kill()
        child.wait()


def test_waiting_for_a_pid_that_now_names_another_process_returns_at_once(wait_mode):
    me = process_facts(os.getpid())
    earlier = attrs.evolve(me, start_time=me.start_time - 100.0,
                           start_ticks=None if me.start_ticks is None else me.start_ticks - 10_000)
    lifetime.wait_for_exit(earlier)  # "the host" started earlier: not us


def test_waiting_for_a_pid_with_no_process_returns_at_once(wait_mode):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    lifetime.wait_for_exit(ProcessFacts(child.pid, 0.0, 0, 0))
