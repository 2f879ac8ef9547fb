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
    # Not "0 before": CPython 3.12's collector files some objects in the frozen generation
    # itself (375 in a fresh 3.12.1 process).
    gc.collect()
    before = gc.get_freeze_count()
    with frozen_heap():
        assert gc.get_freeze_count() > before + 1000
    assert gc.get_freeze_count() <= before


def test_a_child_forked_inside_frozen_heap_freezes_and_unfreezes_nothing_in_it():
    """As an owner the Directory forks: the objects frozen for its fork are its parent's,
    and stay frozen (handing them to its collector would copy every page it shares)."""
    read, write = os.pipe()
    with frozen_heap():
        pid = os.fork()
        if pid == 0:  # the child: report, then leave without running pytest's teardown
            try:
                inherited = gc.get_freeze_count()
                with frozen_heap():
                    garbage = [object() for _ in range(10)]
                    inside = gc.get_freeze_count()
                del garbage
                os.write(write, f"{inherited} {inside} {gc.get_freeze_count()}".encode())
            finally:
                os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        inherited, inside, after = map(int, pipe.read().split())
    os.waitpid(pid, 0)
    assert inherited > 1000
    assert inside == inherited
    assert after == inherited


_CHUNK_CHURN = r"""
import resource, sys
from sessionward.hosting.processes import on_fresh_stack

def leaf():
    return 1

def calls(n):
    for _ in range(n):
        leaf()

def faults(n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    calls(n)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def at_depth(depth, then):
    return then() if depth == 0 else at_depth(depth - 1, then)

def both(depth):  # faults of 300 calls at depth, and of the same through on_fresh_stack
    return at_depth(depth, lambda: (faults(300), on_fresh_stack(faults, 300)))

# Every depth up to 300 frames of at_depth (more than a 16 KiB chunk): the most faults of
# 300 plain calls at any depth, and the most of the same through on_fresh_stack.
results = [both(depth) for depth in range(300)]
print(max(plain for plain, _ in results), max(fresh for _, fresh in results))
"""


def test_calls_at_a_frame_chunk_s_end_map_a_chunk_each_time_and_on_fresh_stack_avoids_it():
    # CPython 3.11 frees a frame chunk as soon as its first frame returns (gh-142183): a
    # process whose handlers run at a chunk's end maps and unmaps one per call. Forks are
    # wrapped in on_fresh_stack so that their children's frames start with room to spare.
    done = subprocess.run([sys.executable, "-c", _CHUNK_CHURN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    churned, fresh = (int(word) for word in done.stdout.split())
    if churned < 250:
        pytest.skip(f"Python {sys.version.split()[0]} keeps a spare frame chunk: nothing churns")
    assert fresh < 30, done.stdout
