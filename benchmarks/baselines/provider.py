"""ScriptedStream: the sleep-based provider both baselines stream from.

It stands for a real model stream, so sleeping is what it is for: a turn's reply arrives in
``turn.chunks`` pieces, one every ``turn.stream_seconds / turn.chunks`` seconds. It never
fails: in the benchmark every failure is a coordination failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from benchmarks.workload import SubmittedTurn

ChunkHook = Callable[[SubmittedTurn, str, int], None]
"""``hook(turn, model, chunk_index)``: runs after each chunk's delay, before it is yielded."""


class ScriptedStream:
    """Streams ``"reply to <turn_id> from <model>"`` in ``turn.chunks`` timed pieces.

    Args:
        hook: Called in the streaming thread after each chunk's delay. Tests use it to make
            something happen at a known point of a stream (another lane writing, recovery
            firing) without sleeping to wait for it.
    """

    def __init__(self, hook: ChunkHook | None = None) -> None:
        self.hook = hook
        self._lock = threading.Lock()
        self.streams_started = 0

    def stream(self, turn: SubmittedTurn, model: str) -> Iterator[str]:
        """Yield the reply's pieces for one stream call of ``turn`` on ``model``."""
        with self._lock:
            self.streams_started += 1
        text = f"reply to {turn.turn_id} from {model}"
        count = max(1, turn.chunks)
        size, extra = divmod(len(text), count)
        delay = turn.stream_seconds / count
        start = 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            if delay > 0:
                time.sleep(delay)
            if self.hook is not None:
                self.hook(turn, model, index)
            yield text[start:end]
            start = end
