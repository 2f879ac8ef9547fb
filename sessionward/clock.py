"""The one clock every actor reads: wall time in epoch seconds, replaceable in tests.

Owner, Directory, recovery and timer actors call ``clock.now()`` instead of ``time.time()``,
so escalation, replacement backoff and parking can be tested with a ``FakeClock`` and
simulated silence, without real waiting (as Trio's ``MockClock`` does for its deadlines).

The clock is process-wide: ``use(FakeClock(...))`` replaces it for every actor in this
process, which on ``simpleSystemBase`` is every actor of the runtime. A multiproc system's
actors are other processes and keep the real clock. Thespian's own timers
(``wakeupAfter``) still fire in real time; fake-clock tests deliver ticks as messages.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sessionward.storage.files import write_atomically


class Clock(Protocol):
    def now(self) -> float:
        """The current time, in epoch seconds."""
        ...


OFFSET_FILE_ENV = "SESSIONWARD_CLOCK_OFFSET_FILE"
"""Tests of multi-process systems: a file holding seconds to add to the wall clock.

Set in the environment before a runtime starts, it reaches every actor process (they are
forked with it), and a test moves all their clocks at once by rewriting the file
(``advance_offset_file``). Unset in production, where it costs one dictionary look-up.
"""


class SystemClock:
    """The real clock: ``time.time()`` (plus the test offset file's seconds, if one is set)."""

    def now(self) -> float:
        path = os.environ.get(OFFSET_FILE_ENV)
        if not path:
            return time.time()
        try:
            with open(path, "rb") as f:
                return time.time() + float(f.read() or 0)
        except (OSError, ValueError):
            return time.time()


def advance_offset_file(path: str | os.PathLike[str], seconds: float) -> float:
    """Add ``seconds`` to the offset in ``path`` (see ``OFFSET_FILE_ENV``); returns the offset."""
    file = Path(path)
    try:
        offset = float(file.read_text() or 0)
    except (OSError, ValueError):
        offset = 0.0
    offset += seconds
    write_atomically(file, repr(offset).encode())  # readers see the old offset or the new one
    return offset


class FakeClock:
    """A clock that moves only when told to. Thread-safe.

    Args:
        start: The time it shows first (epoch seconds).
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
            return self._now


_current: Clock = SystemClock()


def now() -> float:
    """The current time from the process's clock (epoch seconds)."""
    return _current.now()


@contextlib.contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the process's clock inside the block (tests)."""
    global _current  # noqa: PLW0603 - the one process-wide clock is the point of this module
    before, _current = _current, clock
    try:
        yield clock
    finally:
        _current = before
