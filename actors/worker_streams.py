"""A worker's streams: one turn's at a time, and the context it keeps between turns.

The worker takes its data path in one of two places (``actors/worker.py``): its link's
thread (``actors/link_server.py``), or, without a link, its Thespian handlers. Both start
a turn's stream and steer, ping or stop the running one the same way, here. Mutable; used
from one thread at a time, except ``current``'s ``control``, which is thread-safe.
"""

from __future__ import annotations

from typing import Any

import attrs

from sessionward.actors.messages import PingStream, RunTurn, SteerStream, StopStream, StreamBatch
from sessionward.actors.stream_pump import ProviderStream


class WorkerStreams:
    """The provider's streams of one worker: ``run`` a turn, ``control`` the running one."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        """Runs the streams started from now on (a repeated ``StartWorker`` replaces it; the
        running stream and the context are kept)."""
        self._context: list = []
        self.current: ProviderStream | None = None

    def run(self, msg: RunTurn) -> ProviderStream:
        """Start ``msg``'s stream; one still running is cancelled (its turn is over for the owner)."""
        if self.current is not None and self.current.finished is None:
            self.current.control.cancel()
        # The context is kept here between turns; the owner sends only what is new.
        self._context[msg.context_from:] = msg.context_delta
        request = attrs.evolve(msg.request, context=tuple(self._context))
        self.current = ProviderStream(msg.turn_id, self.provider, request)
        return self.current

    def control(self, msg: StopStream | PingStream | SteerStream) -> None:
        """Stop, ping or steer the running stream; a message for another turn is ignored."""
        stream = self.current
        if stream is None or stream.turn_id != msg.turn_id:
            return
        if isinstance(msg, StopStream):
            stream.control.cancel()
            self.current = None
        elif isinstance(msg, PingStream):
            stream.control.ping()
        else:
            stream.control.steer(msg.text)

    def take(self, wait: float, most: int) -> StreamBatch | None:
        """The running stream's next batch (waiting at most ``wait`` for it), or None if it
        has nothing yet; once a batch is ``done`` the stream is no longer current."""
        stream = self.current
        if stream is None:
            return None
        events, done = stream.take(wait, most)
        if done:
            self.current = None
        if not events and not done:
            return None
        return StreamBatch(stream.turn_id, tuple(events), done, stream_seconds=stream.seconds)

    def cancel(self) -> None:
        """The worker stops: cancel the running stream, if any."""
        if self.current is not None:
            self.current.control.cancel()
            self.current = None
