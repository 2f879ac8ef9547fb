"""One ``threading.Lock`` per transcript, held for the whole turn, stream included.

Correct inside one process: a turn takes its file's lock, appends its user entry, streams,
appends its reply, and only then lets the next turn in, so entries of two turns never mix
and there is nothing to fence. It stops being correct the moment a second process (another
gateway, a CLI) writes the same file, because a ``threading.Lock`` is invisible outside the
process. Throughput per file is one turn at a time, as for sessionward's owner.

Recovery uses the same watchdog and threshold as the lock-release model: it ages out a
run and sets its abort flag, read between chunks. The re-fired run is handed to the lock's
holder instead of a new thread: the holder persists the aborted partial, then runs the turn
again while still holding the lock. A new thread would queue on the lock behind other turns
and split the turn's entries; in one process there is no reason to. When the flag came
during the last chunk the turn is already answered and the re-fire is dropped.

The provider never fails, so the first model always answers and no fallback chain is needed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.baselines.base import ThreadedSystem
from benchmarks.baselines.provider import ScriptedStream
from benchmarks.baselines.recovery import RunHandle
from benchmarks.baselines.transcript import append_entry, last_entry_id, message_entry
from benchmarks.workload import SubmittedTurn


class InProcessLockSystem(ThreadedSystem):
    """Runs turns under one in-process lock per transcript file.

    Args:
        sessions_dir: Where the transcripts are.
        transcript_name: Session key -> transcript file name.
        provider: The stream every run uses.
        recovery_threshold: Seconds after which recovery aborts a run and re-runs it.
        max_refires: Re-runs recovery may start per turn.
        model: The model name written on replies.
    """

    name = "in-process lock"

    def __init__(
        self,
        sessions_dir: Path,
        transcript_name: Callable[[str], str],
        provider: ScriptedStream,
        *,
        recovery_threshold: float,
        max_refires: int = 1,
        model: str = "primary",
    ) -> None:
        super().__init__(
            sessions_dir,
            transcript_name,
            provider,
            recovery_threshold=recovery_threshold,
            max_refires=max_refires,
        )
        self.model = model
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    def on_stuck(self, handle: RunHandle) -> None:
        """Nothing to start: the holder sees the abort flag and runs the turn again."""

    def run_turn(self, turn: SubmittedTurn) -> None:
        """Run ``turn`` to its end in the calling thread, holding its file's lock throughout."""
        path = self.transcript_for(turn)
        with self._lock_for(path):
            user = message_entry(
                turn_id=turn.turn_id, parent_id=last_entry_id(path), role="user", text=turn.text
            )
            append_entry(path, user)
            leaf = user["id"]
            generation = 0
            while True:
                handle = RunHandle(
                    turn, started_at=time.monotonic(), generation=generation, user_written=True
                )
                self.tally.add("runs_started")
                self.watchdog.register(handle)
                try:
                    text, aborted = self._stream(handle)
                finally:
                    self.watchdog.unregister(handle)
                reply = message_entry(
                    turn_id=turn.turn_id,
                    parent_id=leaf,
                    role="assistant",
                    text=text,
                    model=self.model,
                    stop_reason="aborted" if aborted else "stop",
                )
                append_entry(path, reply)
                leaf = reply["id"]
                if not aborted:
                    self.tally.delivered(turn.turn_id, time.monotonic())
                    return
                self.tally.add("aborted_runs")
                self.tally.add("second_runs")
                generation += 1

    def _stream(self, handle: RunHandle) -> tuple[str, bool]:
        turn = handle.turn
        parts: list[str] = []
        stream = self.provider.stream(turn, self.model)
        try:
            for index, piece in enumerate(stream):
                parts.append(piece)
                if index < turn.chunks - 1 and handle.abort.is_set():
                    return "".join(parts), True
        finally:
            stream.close()
        return "".join(parts), False
