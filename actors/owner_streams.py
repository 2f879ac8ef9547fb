"""The owner's side of ``stream_in = "owner"``: provider streams in a thread of the owner.

A ``ProviderStream`` thread writes a byte to the owner's wake pipe when it has events;
the owner returns ``ThespianWatch([pipe])`` from every handler while a stream runs, so its
transport wakes it with a ``WatchMessage`` and it drains the stream without waiting. The
events become the same ``StreamBatch`` a worker would have sent, handled by the same
handler. An event that wakes the owner less than ``stream_batch_window`` after the last
batch waits for the window's end (the pipe is not watched meanwhile), so a fast stream
costs one batch per window, as a worker's does; a slow one is forwarded as each event
arrives, and a wake-up that finds the stream ended drains it at once.

Thespian's ``simpleSystemBase`` (the fast unit tests) has no ``ThespianWatch``: there the
stream is drained on a timer every window. Kept out of ``owner.py`` because it is one idea:
how events reach the owner when nothing sends them.
"""

from __future__ import annotations

import time
from typing import Any

from thespian.actors import ThespianWatch

from sessionward.actors import messages as M
from sessionward.actors.stream_pump import ProviderStream, WakePipe
from sessionward.config import StreamIn


class StreamsInOwner:
    """Mixin for ``SessionOwner``: ``_run_here``, ``_pump_here`` and the watch."""

    _local: ProviderStream | None = None
    _wake: WakePipe | None = None
    _watching = False
    """Whether the wake pipe is watched now (False while a batch waits for its window)."""
    _last_batch = 0.0
    """When (monotonic) the last batch of events was forwarded."""

    def _streams_here(self) -> bool:
        return self._setup.config.stream_in is StreamIn.OWNER  # type: ignore[attr-defined]

    def _can_watch(self) -> bool:
        # Only Thespian's socket transports watch descriptors (``set_watch``); the actor
        # manager sets an actor's watch list from each handler's return value.
        return hasattr(getattr(getattr(self, "_myRef", None), "transport", None), "set_watch")

    def receiveMessage(self, message: Any, sender: Any) -> Any:
        super().receiveMessage(message, sender)  # type: ignore[misc]
        if self._local is not None and self._watching and self._wake is not None:
            return ThespianWatch([self._wake.read_fd])
        return None

    def _run_here(self, turn_id: str, request: Any) -> None:
        """Start ``turn_id``'s stream in a thread of this process."""
        if self._wake is None:
            self._wake = WakePipe()
        self._local = ProviderStream(turn_id, self._setup.built, request, self._wake.write_fd)  # type: ignore[attr-defined]
        self._watching = self._can_watch()
        if not self._watching:
            self._drain_later(turn_id)

    def _drain_later(self, turn_id: str) -> None:
        self._watching = False
        self.wakeupAfter(self._setup.config.stream_batch_window, payload=M.PumpStream(turn_id))  # type: ignore[attr-defined]

    def _wake_ready(self, ready: list[int]) -> None:
        """A ``WatchMessage`` whose ready descriptors may include the wake pipe's."""
        if self._wake is None or self._wake.read_fd not in ready:
            return
        self._wake.clear()
        stream = self._local
        if stream is None or not self._watching:
            return
        since = time.monotonic() - self._last_batch
        if stream.finished is None and since < self._setup.config.stream_batch_window:  # type: ignore[attr-defined]
            # A batch went out less than a window ago and the stream goes on: this one waits
            # for the window's end, with whatever else comes meanwhile (an ended stream does not).
            self._watching = False
            self.wakeupAfter(self._setup.config.stream_batch_window - since,  # type: ignore[attr-defined]
                             payload=M.PumpStream(stream.turn_id))
            return
        self._pump_here(stream.turn_id, timed=False)

    def _pump_here(self, turn_id: str, *, timed: bool) -> None:
        """Forward what ``turn_id``'s stream has produced, as the worker's ``StreamBatch``."""
        stream = self._local
        if stream is None or stream.turn_id != turn_id:
            return  # an abandoned stream's timer
        events, done = stream.take(0.0, self._setup.config.stream_batch_max)  # type: ignore[attr-defined]
        if done:
            stream.detach()  # its thread may still be writing the wake byte of its end
            self._local = None
        elif len(events) >= self._setup.config.stream_batch_max or not self._can_watch():  # type: ignore[attr-defined]
            # More may be waiting, put before ``take`` and so announced by no new wake byte
            # (or there is no watch here): the timer drains the next batch in a window.
            self._drain_later(turn_id)
        elif timed:
            self._watching = True  # wake on the next event (which waits for the window if it is early)
        if events:
            self._last_batch = time.monotonic()
        if events or done:
            batch = M.StreamBatch(turn_id, tuple(events), done, stream_seconds=stream.seconds)
            self.receiveMsg_StreamBatch(batch, self.myAddress)  # type: ignore[attr-defined]
            current = self._current  # type: ignore[attr-defined]
            if self._local is stream and (current is None or current.ticket.turn_id != turn_id):
                self._stop_here()  # the turn ended on these events (a provider error) before its stream did

    def _stop_here(self) -> None:
        """Stop the stream running here, if any: it is cancelled and, if its provider does
        not notice, abandoned (its daemon thread's events go nowhere)."""
        if self._local is not None:
            self._local.control.cancel()
            self._local.detach()  # before the pipe can close: see ``ProviderStream._put``
            self._local = None

    def _close_wake_pipe(self) -> None:
        self._stop_here()
        if self._wake is not None:
            self._wake.close()
            self._wake = None
