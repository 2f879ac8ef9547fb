"""Who serves a store, and is that still true? Pure: process facts are passed in.

A store records the actor system that serves it (``SystemRecord``: its host's pid and start
time, a system id, the port, and the process group of its actor processes). A new runtime
reads that record and asks two questions, answered here without touching a process:

- is the recorded host still alive (``host_alive``)? Only a process with the recorded pid
  *and* start time is that host: a pid alone may have been reused since.
- which live processes are the dead host's leftovers (``leftover_pids``)? Those in the
  recorded process group and session that started after the system did. Never by name.
"""

from __future__ import annotations

import attrs

START_TIME_SLACK = 0.1
"""Seconds two readings of one process's start time may differ by (the kernel counts start
times in clock ticks, 10 ms here, and the boot time they are added to is read each time)."""

CLOCK_SLACK = 2.0
"""Seconds a process's start time (psutil: boot time + ticks) may lag ``time.time()`` read
at the same instant: the kernel gives the boot time in whole seconds. Measured here: a
process forked right after a ``time.time()`` reading had a start time 0.62 s before it."""


@attrs.frozen
class ProcessFacts:
    """What the system says about one live process."""

    pid: int
    start_time: float
    """Epoch seconds (psutil's ``create_time``)."""
    pgid: int
    """Its process group."""
    sid: int
    """Its session."""


@attrs.frozen
class SystemRecord:
    """The actor system serving a store, as the store records it."""

    system_id: str
    """A random id, new for every runtime; every client request names it."""
    store: str
    """The store's root (real path)."""
    host_pid: int
    """The process that started the actor system (the embedding script, or the daemon)."""
    host_start_time: float
    """The host's start time (epoch seconds): with the pid, the host's identity."""
    port: int | None
    """The admin port (None for the in-process base)."""
    group: int = 0
    """The process group and session of every actor process (Thespian's admin calls
    ``setsid``); 0 until the system started, and for the in-process base."""
    started_time: float = 0.0
    """Epoch seconds just before the system was started: its processes are younger."""


def host_alive(record: SystemRecord, host: ProcessFacts | None) -> bool:
    """True if ``host`` (the facts of the process with ``record.host_pid``, None if there
    is none) is the recorded host. A stopped (SIGSTOP) host is alive."""
    return (host is not None and host.pid == record.host_pid
            and abs(host.start_time - record.host_start_time) <= START_TIME_SLACK)


def leftover_pids(record: SystemRecord, processes: list[ProcessFacts], *, own_pid: int) -> list[int]:
    """The pids among ``processes`` that belong to the recorded actor system.

    A process belongs to it when it is in the recorded process group and session, and
    started after the system did. The caller checks first that the host is dead.
    """
    if record.group <= 1:
        return []
    return sorted(
        p.pid for p in processes
        if p.pgid == record.group and p.sid == record.group and p.pid != own_pid
        and p.start_time >= record.started_time - CLOCK_SLACK
    )
