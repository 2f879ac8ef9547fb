"""processes.running: the one "is this pid running" check, and its zombie rule."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import psutil
import pytest

from sessionward.hosting.processes import frozen_heap, running
from sessionward.hosting.system import alive


@pytest.fixture
def zombie():
    """A child that has exited and is not reaped yet: a zombie (waitid with WNOWAIT waits
    for its exit, an event, and leaves it in the process table)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE  # the case under test
    yield child.pid
    child.wait()


def test_a_zombie_is_not_running(zombie):
    assert running(zombie) is False


def test_system_alive_says_a_zombie_child_is_gone_and_reaps_it(zombie):
    assert alive(zombie) is False
    assert not psutil.pid_exists(zombie)  # reaped: no longer in the process table


def test_a_live_process_is_running():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert running(child.pid) is True
        assert alive(child.pid) is True
    finally:
        child.communicate(b"")
    assert running(child.pid) is False  # reaped by communicate: gone


def test_this_process_is_running():
    assert running(os.getpid()) is True


@pytest.mark.parametrize("pid", [0, -1])
def test_a_pid_that_names_a_group_is_not_running(pid):
    assert running(pid) is False


def test_frozen_heap_freezes_for_the_fork_and_gives_the_objects_back_after():
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_frozen_heap_leaves_objects_a_parent_froze_frozen_and_freezes_nothing_more():
    gc.freeze()  # as an owner inherits them from the Directory's fork
    try:
        inherited = gc.get_freeze_count()
        with frozen_heap():
            garbage = [object() for _ in range(10)]
        assert gc.get_freeze_count() == inherited
        del garbage
    finally:
        gc.unfreeze()
