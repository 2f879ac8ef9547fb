"""The worker's end of its link, served by a thread of its own (``stream_in = "worker"``).

The worker used to take its data path in Thespian handlers: the transport watched the
link and woke the actor with a ``WatchMessage`` for each ``RunTurn``, a handler pumped the
stream, and a 1 ms timer pumped it again while it ran. Each turn paid at least one pass of
Thespian's loop in the worker (its timers, its sockets' bookkeeping, the dispatch). Nothing
on the link needs Thespian, since it is a socket pair between two processes. So a thread
serves it (the worker's CPU per saturated turn: 0.53 ms before, 0.25-0.31 ms with it;
``benchmarks.profile_turns``). It reads the frames, runs each turn's stream
(``actors/worker_streams.py``, as the worker's handlers do without a link), and writes the
batches, with the same batching as before: a stream is drained for at most one batch
window (``batch_window``) or ``batch_max`` events at a time, and frames that came meanwhile
are taken between two drains, in order.

The thread never calls Thespian. A send, a timer, even a log record (Thespian's log
handler in an actor process schedules a transmit on the actor's transport) is safe only on
the actor's thread. What the actor must hear of is put on ``notices`` and announced by a
byte on a pipe the actor watches (``notice_fd``): a line to log, and the link's end, after
which the actor exits. The actor keeps the worker's life (``StartWorker`` starts the
server, ``ActorExitRequest`` stops it). Mutable; one per worker process.
"""

from __future__ import annotations

import os
import queue
import select
import threading
from typing import Any

import attrs

from sessionward.actors.messages import PingStream, RunTurn, SteerStream, StopStream
from sessionward.actors.worker_link import LinkBroken, LinkEnd
from sessionward.actors.worker_streams import WorkerStreams

OWNER_CHECK_EVERY = 1.0
"""With no stream running, the link is waited on this long (seconds) before the server
checks that its owner's process is still its parent (a SIGKILLed owner's end closes too,
so this is the second way to notice)."""


@attrs.frozen
class LogLine:
    """A line the actor logs for the server: ``level`` is a ``logging`` level."""

    level: int
    text: str


@attrs.frozen
class LinkEnded:
    """The server has stopped and closed its end: the owner closed the link, died, or the
    link broke (``reason``). The worker exits."""

    reason: str


class LinkServer:
    """Serve ``link`` in a daemon thread: ``start``, then ``take_notices`` when
    ``notice_fd`` is readable; ``stop`` when the worker exits."""

    def __init__(self, link: LinkEnd, provider: Any, batch_window: float, batch_max: int, owner_pid: int) -> None:
        self._link = link
        self._streams = WorkerStreams(provider)
        self._window = batch_window
        self._most = batch_max
        self._owner_pid = owner_pid
        self._stopping = False
        self._poll = select.poll()
        self._polled = 0
        self.notices: queue.SimpleQueue = queue.SimpleQueue()
        self._notice_read, self._notice_write = os.pipe()
        os.set_blocking(self._notice_read, False)
        os.set_blocking(self._notice_write, False)
        self._thread = threading.Thread(target=self._serve, name="worker-link", daemon=True)

    @property
    def notice_fd(self) -> int:
        """Readable once a notice waits: the actor watches it (``ThespianWatch``)."""
        return self._notice_read

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait until the thread has ended (tests): True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving (the worker exits): the running stream is cancelled and the thread
        ends at its next look at the link. Safe from the actor's thread."""
        self._stopping = True
        stream = self._streams.current
        if stream is not None:
            stream.control.cancel()  # thread-safe; the thread itself drops the stream

    def take_notices(self) -> list[LogLine | LinkEnded]:
        """What the server has announced since the last call, in order."""
        try:
            while os.read(self._notice_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        notices = []
        while True:
            try:
                notices.append(self.notices.get_nowait())
            except queue.Empty:
                return notices

    # -- the thread ---------------------------------------------------------------------------

    def _serve(self) -> None:
        reason = "the server stopped"
        try:
            while not self._stopping:
                if self._streams.current is None and not self._link.pending and not self._wait(OWNER_CHECK_EVERY):
                    if os.getppid() != self._owner_pid:
                        reason = "the owner's process is gone"
                        break
                    continue
                self._take_frames()
                batch = self._streams.take(self._window, self._most)  # None at once if no stream
                if batch is not None:
                    self._link.send(batch)
                if self._link.pending and not self._link.flush():
                    self._wait(self._window)  # until the owner reads, or a frame comes
                if self._streams.current is not None and os.getppid() != self._owner_pid:
                    reason = "the owner's process is gone"  # SIGKILLed: stop streaming for nobody
                    break
        except LinkBroken as exc:
            reason = str(exc)
        except BaseException as exc:  # a bug here must still end the worker, and be told
            reason = f"the link server failed: {type(exc).__name__}: {exc}"
            self._notify(LogLine(40, reason))
        finally:
            self._streams.cancel()
            self._link.close()
            self._notify(LinkEnded(reason))

    def _wait(self, timeout: float) -> bool:
        """Wait until the link is readable (or writable, while it keeps bytes): True if it is."""
        events = select.POLLIN | (select.POLLOUT if self._link.pending else 0)
        if events != self._polled:
            if self._polled:
                self._poll.modify(self._link.fileno(), events)
            else:
                self._poll.register(self._link.fileno(), events)
            self._polled = events
        return bool(self._poll.poll(timeout * 1000.0))

    def _take_frames(self) -> None:
        for message in self._link.receive():
            try:
                if isinstance(message, RunTurn):
                    self._streams.run(message)
                elif isinstance(message, StopStream | PingStream | SteerStream):
                    self._streams.control(message)
                else:
                    self._notify(LogLine(30, f"worker got an unexpected {type(message).__name__} on its link"))
            except Exception as exc:  # the next frames still go to their handler
                self._notify(LogLine(40, f"worker failed handling a {type(message).__name__} from its link: "
                                         f"{type(exc).__name__}: {exc}"))

    def _notify(self, notice: LogLine | LinkEnded) -> None:
        self.notices.put(notice)
        try:
            os.write(self._notice_write, b"n")
        except OSError:
            pass  # the pipe is full: a byte is already waiting, and the queue holds the notice
