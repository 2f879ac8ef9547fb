"""hosting.immortal_heap: the factory's objects made immortal, so that forked owners stop
copying its pages by reference counting. Each test runs in a fresh interpreter: marking
pytest's own heap immortal would keep it for the rest of the run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sessionward.hosting import immortal_heap

_FORK_AND_TOUCH = r"""
import gc, os, sys
from sessionward.hosting.processes import freeze_for_good

def private_dirty_kib():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:"))

# What a factory holds: objects its children only use.
kept = [{"n": n} for n in range(40_000)]
freeze_for_good(immortal=sys.argv[1] == "immortal")
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    before = private_dirty_kib()
    for item in kept:  # takes and drops a reference to each: a count written per object
        pass
    os.write(write, str(private_dirty_kib() - before).encode())
    os._exit(0)
os.close(write)
copied = os.read(read, 100).decode()
os.waitpid(pid, 0)
print(copied)
"""


def _copied_kib(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _FORK_AND_TOUCH, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not immortal_heap.supported(), reason=f"CPython {sys.version.split()[0]}: no immortal objects")
def test_a_child_using_its_parent_s_immortal_objects_copies_almost_none_of_their_pages():
    mortal, immortal = _copied_kib("mortal"), _copied_kib("immortal")
    assert mortal > 1500  # 40,000 dicts' counts written: ~3 MiB of pages copied (2,980 KiB seen)
    assert immortal < mortal / 10, (mortal, immortal)  # 44 KiB seen


_MARK = r"""
import sys
from sessionward.hosting import immortal_heap

def used_by_children():
    return 1

marked = immortal_heap.immortalize()
count = sys.getrefcount(used_by_children)
held = [used_by_children] * 1000
print(marked, immortal_heap.is_immortal(used_by_children), sys.getrefcount(used_by_children) - count)
"""


def test_immortalize_marks_the_heap_where_cpython_has_immortal_objects_and_nothing_elsewhere():
    done = subprocess.run([sys.executable, "-c", _MARK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    marked, immortal, counted = done.stdout.split()
    if immortal_heap.supported():
        assert int(marked) > 10_000  # the modules sessionward imports, at least
        assert immortal == "True"
        assert int(counted) == 0  # 1,000 more references written nowhere
    else:
        assert int(marked) == 0
        assert immortal == "False"
        assert int(counted) == 1000
