"""An idle owner's memory, offered to the kernel's same-page merging (KSM).

Why: a forked owner shares its parent's pages until it writes one, and CPython writes
reference counts on every object it touches. A turn touches code, constants, module
dictionaries and types all over the factory's heap, so each turn leaves the owner with its
own copy of about 600 pages (``docs/performance.md``: an idle owner's 8 MiB private memory
is almost all such copies, not objects it keeps). Once the turn is over the counts are
back where they were, so most of those copies are byte for byte the factory's page. KSM
finds identical pages and maps them once again, copy-on-write. Measured (100 idle owners,
``worker`` mode): private memory 7.91 -> 1.77 MiB per owner (median), PSS per idle live session
8.07 -> 2.15 MiB, once ``ksmd`` had scanned them.

What it costs: nothing while the host's ``ksmd`` does not run (``/sys/kernel/mm/ksm/run``
is 0 on most systems; a person with root turns it on: ``docs/operating.md``). When it
runs, ``ksmd`` uses CPU in proportion to how many pages it scans a second, and a merged
page written again is copied again on the write (a page fault): so only an owner idle for
``worker_idle_timeout`` offers its pages, never a busy one, and its next turn pays those
faults once.

``PR_SET_MEMORY_MERGE`` (Linux 6.4) marks every present and future mapping of the calling
process; it is inherited by a child forked later (the owner's next worker). Elsewhere,
or where it is refused (an older kernel, a seccomp filter), ``allow_merging`` says False
and nothing else changes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

PR_SET_MEMORY_MERGE = 67
PR_GET_MEMORY_MERGE = 68

KSM_RUN = Path("/sys/kernel/mm/ksm/run")
"""1 while the kernel's ``ksmd`` merges pages; 0 (stopped) or 2 (unmerge all) otherwise."""


def _find_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # the C library this interpreter runs on
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _find_prctl()
"""Looked up once, at import: in the factory, before any owner is forked. An owner that
looked it up itself (``ctypes.util.find_library`` runs ``ldconfig``) wrote to so many of
its pages that its private memory grew by 0.7 MiB, KSM or not."""


def _prctl(option: int, value: int) -> int | None:
    """``prctl(option, value, 0, 0, 0)``: its result, or None where it cannot be called."""
    if _PRCTL is None:
        return None
    return int(_PRCTL(option, value, 0, 0, 0))


def allow_merging() -> bool:
    """Offer every page of this process to KSM from now on. True if the kernel took it."""
    return _prctl(PR_SET_MEMORY_MERGE, 1) == 0


def merging_allowed() -> bool:
    """Whether this process's pages are offered to KSM (``allow_merging`` was called here, or
    in the parent before the fork)."""
    return _prctl(PR_GET_MEMORY_MERGE, 0) == 1


def ksm_running() -> bool:
    """Whether the host's ``ksmd`` is merging pages now (``/sys/kernel/mm/ksm/run`` is 1)."""
    try:
        return KSM_RUN.read_text().strip() == "1"
    except OSError:
        return False


def merged_pages(pid: int | None = None) -> int:
    """How many of a process's pages KSM has merged (``/proc/<pid>/ksm_merging_pages``); 0
    where the kernel does not say."""
    try:
        return int(Path(f"/proc/{pid or os.getpid()}/ksm_merging_pages").read_text())
    except (OSError, ValueError):
        return 0
