"""What both baselines share: one thread per run, a tally of events, the watchdog.

A baseline subclasses ``ThreadedSystem`` and implements ``run_turn`` (the whole life of a
turn, run in the calling thread) and ``on_stuck`` (what recovery does with a stuck run).
``submit`` starts ``run_turn`` on a new thread; ``start_thread`` is also how a baseline
starts a re-fired run, so ``join_all`` waits for those too.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks.baselines.provider import ScriptedStream
from benchmarks.baselines.recovery import RunHandle, StuckRunWatchdog
from benchmarks.workload import SubmittedTurn


class Tally:
    """Thread-safe event counts and per-turn times of one benchmark run.

    Counter names used by the baselines: ``runs_started``, ``second_runs``,
    ``fence_errors``, ``lock_timeouts``, ``stale_locks_reclaimed``, ``all_models_failed``,
    ``aborted_runs``, ``superseded_replies``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.submitted_at: dict[str, float] = {}
        """Turn id -> ``time.monotonic()`` at submission."""
        self.delivered_at: dict[str, float] = {}
        """Turn id -> ``time.monotonic()`` when its submitter got the reply (first one)."""
        self.contended: set[str] = set()
        """Turns that hit at least one takeover (fence) error in any of their runs."""

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def contend(self, turn_id: str) -> None:
        with self._lock:
            self.contended.add(turn_id)

    def submitted(self, turn_id: str, at: float) -> None:
        with self._lock:
            self.submitted_at[turn_id] = at

    def delivered(self, turn_id: str, at: float) -> None:
        with self._lock:
            self.delivered_at.setdefault(turn_id, at)


class ThreadedSystem:
    """Runs turns on threads against transcripts in one directory.

    Args:
        sessions_dir: Where the transcript files are.
        transcript_name: Session key -> file name inside ``sessions_dir``.
        provider: The stream every run uses.
        recovery_threshold: Seconds after which the watchdog calls a run stuck.
        max_refires: Re-fires recovery may start per turn.
    """

    name = "threaded"

    def __init__(
        self,
        sessions_dir: Path,
        transcript_name: Callable[[str], str],
        provider: ScriptedStream,
        *,
        recovery_threshold: float,
        max_refires: int = 1,
    ) -> None:
        self.sessions_dir = Path(sessions_dir)
        self.transcript_name = transcript_name
        self.provider = provider
        self.tally = Tally()
        self.watchdog = StuckRunWatchdog(recovery_threshold, self.on_stuck, max_refires=max_refires)
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()

    def transcript_for(self, turn: SubmittedTurn) -> Path:
        """The transcript file the turn's session key resolves to."""
        return self.sessions_dir / self.transcript_name(turn.session_key)

    def run_turn(self, turn: SubmittedTurn) -> None:
        """Run the turn to its end in the calling thread."""
        raise NotImplementedError

    def on_stuck(self, handle: RunHandle) -> None:
        """Recovery aborted ``handle`` (its flag is already set); react to it."""
        raise NotImplementedError

    def submit(self, turn: SubmittedTurn) -> threading.Thread:
        """Record the submission time and start ``run_turn`` on a new thread."""
        self.tally.submitted(turn.turn_id, time.monotonic())
        return self.start_thread(self.run_turn, turn, name=turn.turn_id)

    def start_thread(
        self, target: Callable[..., None], *args: object, name: str
    ) -> threading.Thread:
        """Start ``target(*args)`` on a new thread that ``join_all`` will wait for."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._threads_lock:
            self._threads.append(thread)
        thread.start()
        return thread

    def join_all(self) -> None:
        """Wait for every thread started so far, including ones started meanwhile."""
        joined = 0
        while True:
            with self._threads_lock:
                pending = self._threads[joined:]
            if not pending:
                # Every run has unregistered; a sweep that saw one of them alive may still
                # be starting its re-fire. Wait it out, then look once more.
                self.watchdog.wait_sweep()
                with self._threads_lock:
                    pending = self._threads[joined:]
                if not pending:
                    return
            for thread in pending:
                thread.join()
            joined += len(pending)
