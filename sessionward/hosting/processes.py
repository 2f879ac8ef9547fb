"""Process facts, whether a pid runs, and ending processes, by identity (pid and start).

On Linux the facts come from ``/proc/<pid>/stat``, which gives a process's start as clock
ticks from boot: the one reading of a start that a wall-clock step does not move (see
``sessionward.hosting.ownership``). Elsewhere psutil reads them portably, as dates. The
rules that use these facts live in ``ownership`` and take them as values.

One rule for zombies everywhere: a zombie has exited (only its exit status waits for its
parent to collect it). It runs no code, holds no file lock and answers nothing, so for
every question asked here (is the owner dead? did the host end? is a process left?) it
counts as gone. ``running`` is the one "is this pid running" check; the Directory, the
admin's host watch (``lifetime``) and ``system.alive`` all use it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil

from sessionward.hosting import immortal_heap
from sessionward.hosting.ownership import ProcessFacts, same_process

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@functools.cache
def boot_id() -> str | None:
    """This boot's id (Linux); None where there is none. A process never outlives its
    boot, so it is read once."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


def boot_ticks() -> int | None:
    """The time since boot, in the clock ticks of ``ProcessFacts.start_ticks``; None where
    processes have no ticks. The kernel counts a process's start on the boot clock
    (``CLOCK_BOOTTIME``, which goes on through a suspend), so this is read from the same."""
    if boot_id() is None or not hasattr(time, "CLOCK_BOOTTIME"):
        return None
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _CLOCK_TICKS)


def running(pid: int) -> bool:
    """True if a process with ``pid`` exists and is not a zombie.

    ``pid`` 0 or below names no single process (``kill`` would signal a group): False. A
    process of another user counts (it exists). Where its state cannot be read, an
    existing process counts as running: a live process must never be taken for a dead one.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return not _exited(pid)


def sigkill(pid: int, *, wait: float = 0.0) -> None:
    """SIGKILL ``pid`` (never this process, nor a pid of 0 or below, which names a group);
    with ``wait``, poll up to that many seconds until it is not running."""
    if pid <= 0 or pid == os.getpid():
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and running(pid):
        time.sleep(0.005)  # a dying process's exit has no event to await here


def _exited(pid: int) -> bool:
    """True if ``pid`` (which existed a moment ago) is a zombie or gone by now."""
    try:
        # /proc first: cheap, and enough on Linux (psutil reads the same file).
        return _proc_stat(pid)[0] == b"Z"
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return True  # reaped between the two looks
    except (OSError, IndexError):
        pass
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False  # it exists and its state cannot be read: running, by the rule above


def _proc_stat(pid: int) -> list[bytes]:
    """The fields of ``/proc/<pid>/stat`` after the command's closing parenthesis (the
    command may hold any byte): state, ppid, pgrp, session, ..., the start in ticks at
    index 19 (field 22). Raises FileNotFoundError (no such process, or no ``/proc``), another
    OSError, or IndexError (not in this shape)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def process_facts(pid: int) -> ProcessFacts | None:
    """The facts of a live process (a zombie is not live); None if there is none."""
    if pid <= 0:
        return None
    try:
        fields = _proc_stat(pid)
        if fields[0] == b"Z":
            return None
        ticks = int(fields[19])
        return ProcessFacts(pid, psutil.boot_time() + ticks / _CLOCK_TICKS, int(fields[2]), int(fields[3]),
                            ticks, boot_id())
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return None
    except (OSError, IndexError, ValueError):
        pass  # no /proc here, or not in this shape: ask psutil
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return ProcessFacts(pid, proc.create_time(), os.getpgid(pid), os.getsid(pid))
    except (psutil.Error, OSError):
        return None


def all_process_facts() -> list[ProcessFacts]:
    """The facts of every live process we can see."""
    if os.path.isdir("/proc/self"):
        found = (process_facts(int(name)) for name in os.listdir("/proc") if name.isdigit())
        return [f for f in found if f is not None]
    out = []
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE or info.get("create_time") is None:
            continue
        try:
            out.append(ProcessFacts(info["pid"], info["create_time"], os.getpgid(info["pid"]),
                                    os.getsid(info["pid"])))
        except OSError:
            continue  # gone meanwhile
    return out


def end_processes(facts: list[ProcessFacts], *, timeout: float = 5.0) -> list[int]:
    """SIGKILL each process that still has the pid *and* start in ``facts``; wait up
    to ``timeout`` seconds for them to be gone. Returns the pids still there after it."""
    for fact in facts:
        if _same(fact):
            try:
                os.kill(fact.pid, signal.SIGKILL)
            except OSError:
                pass  # gone meanwhile
    deadline = time.monotonic() + timeout
    left = [f for f in facts if _same(f)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for other processes to exit: there is no event to await
        left = [f for f in left if _same(f)]
    return [f.pid for f in left]


def _same(fact: ProcessFacts) -> bool:
    return same_process(fact, process_facts(fact.pid))


class _HeapState:
    """What this process did to its collector. A forked child starts with a copy, so a
    child forked inside ``frozen_heap`` knows that its frozen objects are its parent's."""

    frozen = False
    """Objects are frozen now, by this process or by the parent that forked it."""
    immortal = False
    """``freeze_for_good`` made the heap immortal here (or in a parent)."""


_heap = _HeapState()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Fork inside this block (Thespian's ``createActor`` forks the child at once): the
    objects that exist now are moved out of the garbage collector's reach first, so the
    child's collections never write to them and the pages it shares with this process stay
    shared (copy-on-write) instead of becoming private copies in every child. This process
    gets them back after the block, so its own garbage is still collected.

    In a process that inherited frozen objects (an owner, forked inside this block by the
    Directory) it does nothing: unfreezing would hand the inherited objects back to this
    process's collector, and freezing again would keep its own garbage for good.

    That is known from ``_heap``, not from ``gc.get_freeze_count()``: CPython 3.12's
    collector files some objects in the frozen generation itself (375 in a fresh 3.12.1
    process, and again after any ``gc.collect()``), so a count above 0 did not mean
    "inherited", and the Directory never froze before a fork there."""
    if _heap.frozen:
        yield
        return
    gc.freeze()
    _heap.frozen = True
    try:
        yield
    finally:
        _heap.frozen = False
        gc.unfreeze()


def freeze_for_good(*, immortal: bool = False) -> None:
    """For a process that forks children and does little else (``OwnerFactory``): collect
    its garbage, then move every object left out of the collector's reach, and never give
    them back. A later collection then writes to none of the pages the children share with
    this process, so they stay shared (a full collection with them unfrozen, as
    ``frozen_heap`` leaves a busy parent, wrote to every one: a sleeping child's private
    memory went from 1.1 to 13.2 MiB).

    With ``immortal``, the first call also makes those objects immortal
    (``hosting/immortal_heap.py``, CPython 3.12 and 3.13), so that the children's
    reference counting stops copying the pages too. Later calls only freeze: an immortal
    object is never freed, and what a later call would find is mostly what the factory
    made for its last fork.

    The price: an object frozen here that later becomes part of a garbage cycle is never
    freed (one without a cycle is, by its reference count). The factory keeps almost nothing
    across forks, so that is bounded by what Thespian keeps per child."""
    if immortal and not _heap.immortal and immortal_heap.supported():
        _heap.immortal = True
        # What the Directory froze for this process's fork (``frozen_heap``) is out of
        # ``gc.get_objects``' sight: given back first, or most of the heap stays mortal.
        gc.unfreeze()
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()  # no collection halfway: the marking must see the heap as it is
        try:
            immortal_heap.immortalize()
        finally:
            if enabled:
                gc.enable()
    else:
        gc.collect()
    gc.freeze()
    _heap.frozen = True


FRESH_STACK_SLOTS = 4100
"""The frame size of ``on_fresh_stack`` (its local variables, 8 bytes each)."""


def _fresh_stack_function() -> Callable[..., Any]:
    names = " = ".join(f"_{i}" for i in range(FRESH_STACK_SLOTS))
    source = ("def on_fresh_stack(fn, *args, **kwargs):\n"
              f"    {names} = None\n"
              "    return fn(*args, **kwargs)\n")
    space: dict[str, Any] = {}
    exec(compile(source, "<sessionward.hosting.processes>", "exec"), space)
    fresh: Callable[..., Any] = space["on_fresh_stack"]
    fresh.__doc__ = """``fn(*args, **kwargs)`` with 32 KiB of CPython's frame stack free above it.
    Every ``createActor`` of ours goes through it (``GuardedActor.createActor``): a forked
    process runs on top of every frame of the process that forked it, which ran on top of
    its own parent's, and so on.

    CPython 3.11 keeps frames in 16 KiB chunks and frees a chunk as soon as the frame at
    its start returns (gh-142183; 3.13.x and 3.14 keep one). An owner three forks deep
    (admin, Directory, factory) handled its messages right at a chunk's end, so nearly
    every call into a handler mapped a chunk and every return unmapped it: 34 ``mmap`` and
    ``munmap`` pairs and as many page faults per turn, 0.6-1.0 ms more CPU per turn.
    This frame is 4,100 slots (32 KiB): it never fits in the chunk in use, so it gets one
    of its own of 64 KiB (the size doubles until it has 1,000 slots to spare), and what
    it calls has the other 32 KiB, deep enough for an owner's or a worker's handlers (17
    KiB measured at an owner's deepest append, of which the three forks' frames were 11)."""
    fresh.__module__ = __name__
    return fresh


on_fresh_stack = _fresh_stack_function()
