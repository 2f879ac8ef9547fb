"""A store belongs to one actor system at a time: its record, taken under a store lock.

``<store>/sessionward.system.json`` names the system serving the store (a
``SystemRecord``); the store directory itself is flocked only while a runtime reads and
writes that record, never for the system's life (a stopped host would then block every
newcomer, and forked actor processes would inherit the lock). A directory can be flocked
like a file, so no lock file is left in the store.

A runtime that starts:

1. takes the lock and reads the record;
2. if the recorded host is alive (same pid, same start; a stopped host counts), it
   refuses: ``StoreInUseError("store in use by pid N")``, having written nothing;
3. if the host is dead, it ends the dead system's leftover processes, found by process
   group, session and start time (``ownership.leftover_pids``), never by name, so their
   locks are released; the new system's owners then replay the inboxes as after an owner
   crash;
4. writes its own record, and completes it (the process group) once its system runs.

``release_store`` removes the record at close, if it is still this runtime's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from sessionward.errors import StoreInUseError
from sessionward.hosting.ownership import SystemRecord, host_alive, leftover_pids
from sessionward.hosting.processes import all_process_facts, boot_ticks, end_processes, process_facts
from sessionward.storage.files import write_atomically

log = logging.getLogger("sessionward.claim")

RECORD_NAME = "sessionward.system.json"
LOCK_TIMEOUT = 10.0
"""Seconds to wait for another runtime's claim or release (each takes milliseconds)."""


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """Hold the store-level lock (an exclusive flock on the store directory ``root``).

    Raises:
        StoreInUseError: another process held it for ``LOCK_TIMEOUT`` seconds.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    record = read_record(root)
                    who = f"pid {record.host_pid}" if record else "another process"
                    raise StoreInUseError(f"store in use by {who} (the lock on {root} is held)") from None
                time.sleep(0.02)  # a flock has no timeout of its own
        yield
    finally:
        os.close(fd)


def read_record(root: Path) -> SystemRecord | None:
    """The store's record; None when there is none or it is unreadable (then no system
    can be identified from it, and the store is treated as free)."""
    try:
        data = json.loads((root / RECORD_NAME).read_bytes())
        return SystemRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def claim_store(root: Path, system_id: str, port: int | None) -> tuple[SystemRecord, SystemRecord | None]:
    """Make this process the store's host (steps 1-4 of the module's docstring, but the
    process group, which ``complete_claim`` adds once the system runs).

    Returns:
        This runtime's record, and the record of the dead host it took the store over
        from (None when the store was free, or closed cleanly).

    Raises:
        StoreInUseError: the recorded host is alive.
    """
    me = process_facts(os.getpid())
    record = SystemRecord(system_id, str(root), os.getpid(), me.start_time if me else 0.0, port,
                          started_time=time.time(), host_start_ticks=me.start_ticks if me else None,
                          boot_id=me.boot_id if me else None, started_ticks=boot_ticks())
    with store_lock(root):
        old = read_record(root)
        if old is not None:
            if host_alive(old, process_facts(old.host_pid)):
                raise StoreInUseError(f"store in use by pid {old.host_pid}")
            _end_leftovers(old)
        _write(root, record)
    return record, old


def complete_claim(root: Path, record: SystemRecord, group: int) -> SystemRecord:
    """Add the system's process group to this runtime's record (if it is still ours)."""
    record = attrs.evolve(record, group=group)
    with store_lock(root):
        current = read_record(root)
        if current is not None and current.system_id == record.system_id:
            _write(root, record)
    return record


def release_store(root: Path, system_id: str) -> None:
    """Remove the store's record if it is this runtime's."""
    try:
        with store_lock(root):
            current = read_record(root)
            if current is not None and current.system_id == system_id:
                (root / RECORD_NAME).unlink(missing_ok=True)
    except (OSError, StoreInUseError):
        log.warning("could not release the store record in %s", root)


def _end_leftovers(old: SystemRecord) -> None:
    facts = all_process_facts()
    pids = set(leftover_pids(old, facts, own_pid=os.getpid()))
    if not pids:
        return
    log.warning("store %s: the actor system of pid %d is gone but left %d processes; ending them",
                old.store, old.host_pid, len(pids))
    left = end_processes([f for f in facts if f.pid in pids])
    if left:
        log.error("store %s: processes %s of a dead actor system did not end", old.store, left)


def _write(root: Path, record: SystemRecord) -> None:
    write_atomically(root / RECORD_NAME, json.dumps(attrs.asdict(record), indent=1).encode("utf-8"))
