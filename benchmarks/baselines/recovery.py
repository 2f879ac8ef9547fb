"""Stuck-session recovery as the baselines do it: age out a run, abort it, re-fire.

The watchdog knows every live run and its start time. A sweep finds runs older than the
threshold, sets each one's abort flag and calls ``on_stuck`` straight away, which is where a
baseline re-fires the turn. The flag is all an abort does: a run reads it only between two
stream chunks, so the aborted run keeps going until its next chunk (and past its last one),
racing the run that replaced it. This is the incident's trigger.

``max_refires`` bounds the re-fires per turn: a long turn re-fired with the same work is
just as long, and without a bound recovery would re-fire it forever.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import attrs

from benchmarks.workload import SubmittedTurn

_run_ids = itertools.count(1)


@attrs.define(eq=False)
class RunHandle:
    """One live run of a turn, as the watchdog sees it (mutable: it is live state)."""

    turn: SubmittedTurn
    """The turn being run."""
    started_at: float
    """``time.monotonic()`` when the run started."""
    generation: int = 0
    """0 for the submitted run, n for the n-th run recovery started for the same turn."""
    abort: threading.Event = attrs.field(factory=threading.Event)
    """Set by recovery; the run reads it only between stream chunks."""
    run_id: int = attrs.field(factory=lambda: next(_run_ids))
    """Unique within the process; written into the lock file as the owner."""
    user_written: bool = False
    """Invariant: True once this turn's user entry is in the transcript (copied to re-fires)."""


class StuckRunWatchdog:
    """Aborts runs older than ``threshold`` seconds and hands each one to ``on_stuck``.

    Args:
        threshold: Age in seconds after which a run counts as stuck.
        on_stuck: Called with the aborted run's handle, right after its flag is set.
        max_refires: A run whose ``generation`` has reached this is left alone.
        poll_interval: Seconds between two sweeps of the background thread
            (default: a fifth of the threshold).
    """

    def __init__(
        self,
        threshold: float,
        on_stuck: Callable[[RunHandle], None],
        *,
        max_refires: int = 1,
        poll_interval: float | None = None,
    ) -> None:
        self.threshold = threshold
        self.on_stuck = on_stuck
        self.max_refires = max_refires
        self.poll_interval = poll_interval if poll_interval is not None else threshold / 5
        self._runs: set[RunHandle] = set()
        self._lock = threading.Lock()
        self._sweep_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, handle: RunHandle) -> None:
        """Start watching a run."""
        with self._lock:
            self._runs.add(handle)

    def unregister(self, handle: RunHandle) -> None:
        """Stop watching a run (it ended, however it ended)."""
        with self._lock:
            self._runs.discard(handle)

    def stuck_runs(self, now: float) -> list[RunHandle]:
        """The runs a sweep at ``now`` would abort: older than the threshold, not aborted
        yet, and below ``max_refires``."""
        with self._lock:
            runs = list(self._runs)
        return [
            h
            for h in runs
            if now - h.started_at > self.threshold
            and not h.abort.is_set()
            and h.generation < self.max_refires
        ]

    def sweep(self, now: float) -> list[RunHandle]:
        """Abort every stuck run at ``now``, calling ``on_stuck`` for each; return them."""
        # Held from the look at the live runs until every on_stuck has returned, so that
        # wait_sweep() never sees "no live runs" while a re-fire is still being started.
        with self._sweep_lock:
            stuck = self.stuck_runs(now)
            for handle in stuck:
                handle.abort.set()
                self.on_stuck(handle)
        return stuck

    def wait_sweep(self) -> None:
        """Return once no sweep is in progress (any re-fire it started has been started)."""
        with self._sweep_lock:
            pass

    def start(self) -> None:
        """Sweep every ``poll_interval`` seconds on a daemon thread until ``stop``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="stuck-run-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the sweeping thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.sweep(time.monotonic())
