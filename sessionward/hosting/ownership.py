"""Who serves a store, and is that still true? Pure: process facts are passed in.

A store records the actor system that serves it (``SystemRecord``: its host's pid and start
time, a system id, the port, and the process group of its actor processes). A new runtime
reads that record and asks two questions, answered here without touching a process:

- is the recorded host still alive (``host_alive``)? Only a process with the recorded pid
  *and* start is that host: a pid alone may have been reused since.
- which live processes are the dead host's leftovers (``leftover_pids``)? Those in the
  recorded process group and session that started after the system did. Never by name.

A process's start is compared in the kernel's own terms where it gives them (Linux): the
clock ticks from boot to the process's start, and the boot's id. Those never change for a
live process. Its start as a date (psutil's ``create_time``: boot time + ticks) does: the
kernel gives its boot time as the wall clock minus the time since boot, in whole seconds,
so it moves when the wall clock is stepped (NTP, a VM resumed) or slewed across a second,
and two readings of one process's start date can differ by a second or more. Seen here: a
VM's clock adjustment moved ``btime`` by 1 s and a live daemon's start date with it, and
``sessionward stop`` answered "not running" while it ran. The dates stay for processes and
records that have no ticks (another OS; a record written before the ticks were).
"""

from __future__ import annotations

import attrs

START_TIME_SLACK = 0.1
"""Seconds two readings of one process's start date may differ by, where there are no ticks
to compare (the kernel counts start times in clock ticks, 10 ms here, and the boot time
they are added to is read each time)."""

START_TICKS_SLACK = 1
"""Clock ticks a process forked just after a reading of the boot clock may appear to
precede it by: the kernel truncates a start to whole ticks."""

CLOCK_SLACK = 2.0
"""Seconds a process's start time (psutil: boot time + ticks) may lag ``time.time()`` read
at the same instant: the kernel gives the boot time in whole seconds. Measured here: a
process forked right after a ``time.time()`` reading had a start time 0.62 s before it."""


@attrs.frozen
class ProcessFacts:
    """What the system says about one live process."""

    pid: int
    start_time: float
    """Epoch seconds (psutil's ``create_time``): moves when the wall clock is stepped."""
    pgid: int
    """Its process group."""
    sid: int
    """Its session."""
    start_ticks: int | None = None
    """Clock ticks from boot to its start (``/proc/<pid>/stat``, field 22); None where the
    system does not say."""
    boot_id: str | None = None
    """The boot it started in (``/proc/sys/kernel/random/boot_id``): ticks from another
    boot say nothing."""


def same_process(recorded: ProcessFacts, now: ProcessFacts | None) -> bool:
    """True if ``now`` (the facts of the process that has ``recorded.pid`` today, None if
    none has) is the process ``recorded`` describes, not a later one that reused its pid."""
    if now is None or now.pid != recorded.pid:
        return False
    if recorded.start_ticks is not None and now.start_ticks is not None:
        return not _other_boots(recorded.boot_id, now.boot_id) and now.start_ticks == recorded.start_ticks
    return abs(now.start_time - recorded.start_time) <= START_TIME_SLACK


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
    """The host's start date (epoch seconds): with the pid, the host's identity where there
    are no ticks."""
    port: int | None
    """The admin port (None for the in-process base)."""
    group: int = 0
    """The process group and session of every actor process (Thespian's admin calls
    ``setsid``); 0 until the system started, and for the in-process base."""
    started_time: float = 0.0
    """Epoch seconds just before the system was started: its processes are younger."""
    host_start_ticks: int | None = None
    """The host's start in clock ticks from boot (``ProcessFacts.start_ticks``): with the
    pid and the boot, the host's identity."""
    boot_id: str | None = None
    """The boot the host started in."""
    started_ticks: int | None = None
    """The boot clock (in clock ticks) just before the system was started."""

    def host(self) -> ProcessFacts:
        """The recorded host's identity, as facts to compare with today's."""
        return ProcessFacts(self.host_pid, self.host_start_time, 0, 0, self.host_start_ticks, self.boot_id)


def host_alive(record: SystemRecord, host: ProcessFacts | None) -> bool:
    """True if ``host`` (the facts of the process with ``record.host_pid``, None if there
    is none) is the recorded host. A stopped (SIGSTOP) host is alive."""
    return same_process(record.host(), host)


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
        and _started_after_system(record, p)
    )


def _started_after_system(record: SystemRecord, p: ProcessFacts) -> bool:
    if record.started_ticks is not None and p.start_ticks is not None:
        # A process of this boot cannot be left over from an earlier one.
        return not _other_boots(record.boot_id, p.boot_id) and p.start_ticks >= record.started_ticks - START_TICKS_SLACK
    return p.start_time >= record.started_time - CLOCK_SLACK


def _other_boots(a: str | None, b: str | None) -> bool:
    """True if two boot ids are known and differ: ticks from the two say nothing of each other."""
    return a is not None and b is not None and a != b
