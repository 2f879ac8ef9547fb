"""One turn's provider stream: a thread feeding a queue, drained in batches by an actor.

The provider runs in a thread, never in a handler: Thespian holds an actor's sends until
its handler returns, so a handler that iterated a stream would deliver nothing until the
stream ended. Two actors drain a ``ProviderStream``:

- the ``TurnWorker`` (``stream_in = "worker"``, the default): its link's thread
  (``actors/link_server.py``) waits up to one batch window at a time, since it has nothing
  else to do (without a link, its handler does, on a timer); the worker ends with its
  process when a hung provider must be stopped;
- the ``SessionOwner`` itself (``stream_in = "owner"``) never waits: the thread writes one
  byte to a wake pipe when the queue goes from empty to not empty, the owner's transport
  watches that pipe (``ThespianWatch``) and the owner drains what is there. A turn then
  costs no worker messages and no worker process; a provider that hangs is abandoned (its
  thread is a daemon and its events go nowhere), not ended.

Mutable; lives in one actor's process only.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

from sessionward.providers.base import ProviderErrorKind, ProviderFailure, StreamControl

END = object()
"""The last item a stream's thread puts on its queue."""


class ProviderStream:
    """One turn's stream: ``provider.stream(request, control)`` in a daemon thread
    (``StreamThreads``), its events put on a queue."""

    def __init__(self, turn_id: str, provider: Any, request: Any, wake_fd: int | None = None) -> None:
        self.turn_id = turn_id
        self.control = StreamControl()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.started = time.monotonic()
        self.finished: float | None = None
        self._wake_fd = wake_fd
        self._wake_lock = threading.Lock()
        self._woken = False
        """A wake byte is in the pipe and not yet taken by ``take``: no second one is written."""
        self._ended = threading.Event()
        STREAM_THREADS.run(lambda: self._run(provider, request))

    def wait_ended(self, timeout: float) -> bool:
        """Wait until the stream's thread is done with it (its last event and wake byte written)."""
        return self._ended.wait(timeout)

    def _run(self, provider: Any, request: Any) -> None:
        try:
            for event in provider.stream(request, self.control):
                if self.control.cancelled:
                    break
                self._put(event)
        except BaseException as exc:  # the provider's bug becomes a typed failure
            error = f"{type(exc).__name__}: {exc}"
            self._put(ProviderFailure(ProviderErrorKind.UNKNOWN, error, getattr(provider, "name", "")))
        finally:
            self.finished = time.monotonic()
            self._put(END)
            self._ended.set()

    def _put(self, item: object) -> None:
        self.events.put(item)
        with self._wake_lock:
            if self._woken or self._wake_fd is None:
                return
            self._woken = True
            # Written under the lock: ``detach`` returns only once no write is under way, so
            # the owner may then close the pipe without this thread ever writing into
            # whatever file reuses the descriptor's number.
            try:
                os.write(self._wake_fd, b"w")
            except OSError:
                pass

    def detach(self) -> None:
        """Never write to the wake pipe again (the stream is abandoned, or the pipe closes)."""
        with self._wake_lock:
            self._wake_fd = None

    def take(self, wait: float = 0.0, most: int = 256) -> tuple[list[Any], bool]:
        """``(events, done)``: what the queue holds, up to ``most`` events, waiting at most
        ``wait`` seconds in all for the first ones; ``done`` once the thread has ended."""
        with self._wake_lock:
            self._woken = False  # before draining: an event put from here on writes a new byte
        events: list[Any] = []
        deadline = time.monotonic() + wait
        while len(events) < most:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=remaining) if remaining > 0 else self.events.get_nowait()
            except queue.Empty:
                break
            if event is END:
                return events, True
            events.append(event)
        return events, False

    @property
    def seconds(self) -> float:
        """How long the stream has run (to its end, once it has ended)."""
        return (self.finished or time.monotonic()) - self.started


class StreamThreads:
    """Threads that run streams, each kept for the next stream once its own has ended.

    Starting a thread for every turn cost the owner (``stream_in = "owner"``) or the worker
    a ``clone``, a stack and the start hand-shake, during which the starting thread waits
    (13% of an owner's samples under load, py-spy, issue 17). A stream whose provider hangs
    keeps its thread, which is simply never reused; the next stream gets another. At most
    ``MOST_IDLE`` wait idle. Threads do not survive a fork, so a process forked from one
    that has some (a worker from its owner) starts with none (``_for_this_process``).
    """

    MOST_IDLE = 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []
        self._pid = os.getpid()

    def run(self, job: Any) -> None:
        """Run ``job()`` in an idle stream thread, or in a new one."""
        with self._lock:
            self._for_this_process()
            jobs = self._idle.pop() if self._idle else None
        if jobs is None:
            jobs = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(jobs,), name="stream", daemon=True).start()
        jobs.put(job)

    def idle(self) -> int:
        """How many threads wait for a stream now."""
        with self._lock:
            self._for_this_process()
            return len(self._idle)

    def _for_this_process(self) -> None:
        if self._pid != os.getpid():  # forked: the idle threads listed are the parent's
            self._idle, self._pid = [], os.getpid()

    def _serve(self, jobs: queue.SimpleQueue) -> None:
        while True:
            job = jobs.get()
            try:
                job()
            except BaseException:  # ``_run`` catches the provider's errors; this is a last guard
                pass
            with self._lock:
                self._for_this_process()
                if len(self._idle) >= self.MOST_IDLE:
                    return
                self._idle.append(jobs)


STREAM_THREADS = StreamThreads()
"""This process's stream threads."""


class WakePipe:
    """The owner's end of its streams' wake pipe: non-blocking, closed with the owner."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)

    def clear(self) -> None:
        """Read every wake byte there is (the pipe is readable again only for a new one)."""
        try:
            while os.read(self.read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
