"""A ``PollSelector`` stand-in whose registrations outlive it (issue 17 item 2).

Thespian's ``TCPTransport._runWithExpiry`` builds a new selector on every pass of its
loop and registers every socket it holds (at 100 live sessions a client holds about 130),
then closes it. ``sessionward.hosting.transport`` already makes that selector a
``PollSelector`` (no ``epoll_create``/``epoll_ctl`` system calls per pass); this one also
keeps one ``select.poll`` object per thread across passes. A pass's ``register`` calls only
note what is wanted (a dict entry, no ``SelectorKey``), and ``select`` changes the poll
object's registrations by the difference from the last pass, which is usually none.
Thespian's loop is unchanged: it still builds, fills, selects and closes "a" selector.

One poll object per thread, not per transport: a thread runs one transport loop at a
time (a pass is never re-entered), and since every pass registers exactly what it wants,
a thread that drives two transports one after the other stays correct. A ``select.poll``
holds no kernel object, so a forked child may keep its parent's. Pure: no Thespian.
"""

from __future__ import annotations

import math
import select
import selectors
import threading
from typing import Any, NamedTuple

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE

_POLL_READ = select.POLLIN
_POLL_WRITE = select.POLLOUT


class ReadyKey(NamedTuple):
    """What a ready file descriptor is reported as: Thespian reads ``key.fd`` only."""

    fileobj: Any
    fd: int
    events: int
    data: Any = None


class _Kept(threading.local):
    def __init__(self) -> None:
        self.poll = select.poll()
        self.registered: dict[int, int] = {}
        """fd -> selector events, as the poll object has it now."""


_kept = _Kept()


def _fd(fileobj: Any) -> int:
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class KeptPollSelector:
    """``selectors.PollSelector``'s ``register``/``select``/``close``, for one pass."""

    def __init__(self) -> None:
        self._wanted: dict[int, int] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> None:
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = _fd(fileobj)
        if fd in self._wanted:  # as a selector does: Thespian never registers one twice
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        self._wanted[fd] = events

    def register_all(self, readable: list[Any], writable: list[Any]) -> None:
        """``register`` each of ``readable`` for reading and each of ``writable`` for
        writing, as the loop's pass does, in one call (a client holds about 100)."""
        wanted = self._wanted
        for events, fileobjs in ((EVENT_READ, readable), (EVENT_WRITE, writable)):
            for fileobj in fileobjs:
                fd = fileobj if type(fileobj) is int and fileobj >= 0 else _fd(fileobj)
                if fd in wanted:
                    raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
                wanted[fd] = events

    def select(self, timeout: float | None = None) -> list[tuple[ReadyKey, int]]:
        kept, wanted = _kept, self._wanted
        if wanted != kept.registered:
            self._update(kept, wanted)
        if timeout is None:
            ms = None
        elif timeout <= 0:
            ms = 0
        else:
            ms = math.ceil(timeout * 1e3)  # as PollSelector rounds: never wake before the timeout
        try:
            ready = kept.poll.poll(ms)
        except InterruptedError:
            return []
        out = []
        for fd, event in ready:
            events = 0
            if event & ~_POLL_READ:
                events |= EVENT_WRITE
            if event & ~_POLL_WRITE:
                events |= EVENT_READ
            asked = wanted.get(fd)
            if asked is not None and events & asked:
                out.append((ReadyKey(fd, fd, asked), events & asked))
        return out

    @staticmethod
    def _update(kept: _Kept, wanted: dict[int, int]) -> None:
        registered, poll = kept.registered, kept.poll
        for fd in registered.keys() - wanted.keys():
            try:
                poll.unregister(fd)
            except KeyError:
                pass
        for fd, events in wanted.items():
            if registered.get(fd) != events:
                mask = (_POLL_READ if events & EVENT_READ else 0) | (_POLL_WRITE if events & EVENT_WRITE else 0)
                poll.register(fd, mask)
        kept.registered = dict(wanted)

    def close(self) -> None:
        """Nothing to release: the registrations stay for the thread's next pass."""
