"""Make a forking process's objects immortal, so that its children stop copying its pages.

Why: a forked child shares its parent's memory pages until either side writes one, and
CPython writes an object's reference count every time code takes or drops a reference to
it. An owner forked from the ``OwnerFactory`` runs the same code as the factory imported:
every function it calls, every module dict, class and constant it looks at gets its count
raised and lowered again, and each such write copies a 4 KiB page into the owner alone.
That, not what an owner keeps, is most of an idle owner's ~7-8 MiB of private memory
(``docs/performance.md``).

CPython 3.12 made some objects *immortal* (PEP 683): their reference count is a marker
that ``Py_INCREF`` and ``Py_DECREF`` test and leave alone, so using one writes nothing.
``immortalize`` gives that marker to every object the factory holds before its first fork
(its imported modules, their functions and code, classes, constants; about 190,000
objects), so that the owners forked from it share those pages for as long as they live.
Measured on CPython 3.12.1: PSS per idle live session 7.30 -> 3.97 MiB at N=20, and
6.04 MiB at N=1,000 (8.54 at N=750 without it).

The price, and why it is bounded: an immortal object is never freed. Only the factory's
heap is marked, once, before its first fork: what it imported (kept for the process's
life anyway) and the few objects its first ``ForkOwners`` handler held. Later forks only
freeze (``processes.freeze_for_good``). A child that drops a reference to an inherited
object does not free it either; a child runs on top of its parent's frames, which hold
most of them anyway. Objects a child creates are mortal as usual. Actor processes end
with ``os._exit`` (multiprocessing's fork start), never through interpreter finalization,
which is the one place CPython resets the counts of immortal objects it made itself.

Where: CPython 3.12 and 3.13 with the GIL (64-bit), whose immortal count is
``0xFFFFFFFF`` and whose test is "the low 32 bits, read as signed, are negative". Elsewhere
(3.11, which has no immortal objects; the free-threaded build, which counts per thread;
later versions, not checked) it marks nothing. ``RuntimeConfig.immortal_factory_heap``
turns it off.
"""

from __future__ import annotations

import ctypes
import gc
import struct
import sys
import sysconfig
import types

IMMORTAL_REFCNT = 0xFFFFFFFF
"""``_Py_IMMORTAL_REFCNT`` of CPython 3.12 and 3.13 on 64-bit builds."""


def supported() -> bool:
    """True where ``immortalize`` marks objects (see the module's docstring)."""
    return (sys.implementation.name == "cpython" and (3, 12) <= sys.version_info[:2] <= (3, 13)
            and struct.calcsize("P") == 8 and not sysconfig.get_config_var("Py_GIL_DISABLED"))


def is_immortal(obj: object) -> bool:
    """Whether ``obj``'s reference count is CPython's immortal marker (3.12+)."""
    return supported() and ctypes.c_int32.from_address(id(obj)).value < 0


def immortalize() -> int:
    """Mark every object the collector tracks, and the objects they refer to directly
    (strings, numbers, bytes, code objects and their constants), immortal. Returns how
    many were marked (0 where not ``supported``). Call it in a process that only forks,
    before ``gc.freeze`` (frozen objects are out of ``gc.get_objects``' reach)."""
    if not supported():
        return 0
    # The snapshot first: what is made after it (this bookkeeping) is not in it, so it is
    # not marked, and is freed when this returns.
    objects = gc.get_objects()
    seen: set[int] = set()
    # Bound once: this loop runs ~200,000 times in a factory, on its first fork's path.
    add, at, referents, code = seen.add, ctypes.c_ssize_t.from_address, gc.get_referents, types.CodeType
    for obj in objects:
        pending = [obj, *referents(obj)]
        for item in pending:  # grows as it goes: a code object's parts come after it
            key = id(item)
            if key in seen:
                continue
            add(key)
            at(key).value = IMMORTAL_REFCNT
            if type(item) is code:  # code is not tracked: its parts are not reached otherwise
                pending += (*item.co_consts, *item.co_names, item.co_filename, item.co_name, item.co_qualname,
                            item.co_linetable, item.co_exceptiontable)
    return len(seen)
