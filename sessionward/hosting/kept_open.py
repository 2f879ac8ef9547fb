"""Thespian's kept-open connections, with an index by descriptor kept as they come and go.

``TCPTransport._openSockets`` maps a peer to the ``IdleSocket`` of the connection kept open
to it (issue 17 item 2; ``transport_loop.py``). Each pass of the transport loop listed every
one of them for ``select`` (``s.socket.fileno()`` each) and, to find the readable ones,
looked at every one again: a client with 100 live sessions holds about 130, and passes
about once a turn. ``KeptOpen`` is that dict, with ``by_fd`` (descriptor -> ``IdleSocket``)
updated by the dict's own writes, so that a pass lists the descriptors (``fds``) and finds
the readable connections by lookup (``readable``) without touching each connection.

Measured (``docs/performance.md``, "Kept-open connections indexed by descriptor",
``benchmarks.profile_turns --sessions 400``): saturated turns/s 515-569 -> 548-595, the
client's CPU per activation 2.35-2.45 -> 1.98-2.25 ms; a small gain that grows with the
number of live sessions (at 100 it was within the noise).

Why the index stays right: Thespian changes ``_openSockets`` only by ``d[k] = v``,
``del d[k]`` and ``d.pop(k)`` (``TCPTransport.py``, 4.0.1), and every place that shuts an
``IdleSocket`` down removes or replaces it in the same step; a socket's number does not
change while it is open. Should one be shut down in place anyway, nothing breaks: ``fds``
never lists a number the pass already holds (a selector refuses one registered twice), a
lookup whose socket no longer has that number is dropped, and the loop's sweep once a
second rebuilds the index from the connections themselves (``reindex``). Pure: no Thespian.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _fileno(idle: Any) -> int:
    """The connection's descriptor; -1 if its socket is closed or gone."""
    try:
        fd: int = idle.socket.fileno()
    except (OSError, AttributeError):
        return -1
    return fd


class KeptOpen(dict[Any, Any]):
    """``_openSockets``: peer key -> ``IdleSocket``, plus ``by_fd``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_fd: dict[int, Any] = {}
        self._fd_of: dict[Any, int] = {}
        self.reindex()

    # -- the writes Thespian makes, and the rest of dict's, each kept in the index ----------

    def __setitem__(self, key: Any, value: Any) -> None:
        self._forget(key, super().get(key))
        super().__setitem__(key, value)
        self._note(key, value)

    def __delitem__(self, key: Any) -> None:
        value = super().pop(key)  # KeyError as dict raises it
        self._forget(key, value)

    def pop(self, key: Any, *default: Any) -> Any:
        if key not in self:
            return super().pop(key, *default)
        value = super().pop(key)
        self._forget(key, value)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._forget(key, value)
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        super().clear()
        self.by_fd.clear()
        self._fd_of.clear()

    def _note(self, key: Any, value: Any) -> None:
        fd = _fileno(value)
        if fd >= 0:
            self._fd_of[key] = fd
            self.by_fd[fd] = value

    def _forget(self, key: Any, value: Any) -> None:
        fd = self._fd_of.pop(key, None)
        if fd is not None and self.by_fd.get(fd) is value:  # not a newer one given that number
            del self.by_fd[fd]

    # -- what a pass of the loop asks ---------------------------------------------------------

    def fds(self, besides: Iterable[int] = ()) -> list[int]:
        """The descriptors to select on for reading, leaving out ``besides`` (what the pass
        already registers: a selector refuses a descriptor registered twice)."""
        fds = list(self.by_fd)
        clash = self.by_fd.keys() & set(besides)  # iterates the small side only
        if clash:
            fds = [fd for fd in fds if fd not in clash]
        return fds

    def readable(self, ready: Iterable[int]) -> list[Any]:
        """The connections among ``ready`` descriptors. One whose socket no longer has that
        number leaves the index (the next sweep looks at it, as at every connection)."""
        out = []
        for fd in ready:
            idle = self.by_fd.get(fd)
            if idle is None:
                continue
            if _fileno(idle) == fd:
                out.append(idle)
            else:
                del self.by_fd[fd]
        return out

    def reindex(self) -> None:
        """Build the index again from the connections (the sweep, once a second)."""
        self.by_fd.clear()
        self._fd_of.clear()
        for key, value in self.items():
            self._note(key, value)
