"""The link between an owner and its TurnWorker: framed messages over a socket pair.

A turn in ``stream_in = "worker"`` mode crosses the owner/worker boundary at least twice
(``RunTurn`` out, the last ``StreamBatch`` back). As Thespian TCP messages each crossing
cost a frame and its acknowledgement, each through both processes' transport loops (with
the frames' HMAC): about 1.9 ms of CPU per turn over owner and worker (issue 17's
profile). The worker is always a child of its owner, forked on the same machine, so the
two can share a socket pair made just before the fork, and each watches its end with
``ThespianWatch``: a crossing is then one ``pickle`` and one ``write``, read when the
transport's loop sees the socket readable.

Only the data path uses the link: ``RunTurn``, ``StopStream``, ``PingStream``,
``SteerStream`` (owner to worker, in order on one stream) and ``StreamBatch`` (back).
The worker's life stays Thespian's (``StartWorker``, ``WorkerReady``,
``ActorExitRequest``, ``ChildActorExited``): the worker starts reading the link only once
``StartWorker`` told it which descriptor is its end, so nothing sent before is read
before it. Nothing but the two processes holds the pair (the worker closes the owner's
end it inherited), so the link needs no authentication, and end of file on it means the
other side is gone.

Writes never block a handler: what the socket does not take is kept and written on the
next ``flush`` (the owner retries on a short timer while anything is kept; the worker's
link server waits until the socket takes it). Mutable; one end lives in one process.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
"""Each frame: its length (4 bytes, big-endian), then one pickled message."""

MOST_FRAME_BYTES = 256 * 1024 * 1024
"""A longer frame is taken as a broken link, never as a reason to allocate that much."""

BUFFER_BYTES = 1024 * 1024
"""Each socket's send and receive buffers: a context or a batch of a few hundred KiB goes in one write."""

FLUSH_AGAIN_AFTER = 0.001
"""While a write is kept, the actor flushes again after this many seconds."""


class LinkBroken(Exception):
    """The link can carry nothing more: the other end closed, or sent what is not a frame."""


class LinkEnd:
    """One end of a link: ``send`` messages, ``receive`` what has arrived, ``fileno`` to watch."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._out = bytearray()
        self._in = bytearray()
        self._eof = False
        """The other end closed: what was read before is still handed out, then ``LinkBroken``."""
        self.closed = False

    @classmethod
    def from_fd(cls, fd: int) -> LinkEnd:
        """The end whose descriptor this process inherited (the worker's)."""
        return cls(socket.socket(fileno=fd))

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def pending(self) -> bool:
        """Bytes are kept that the socket has not taken yet (``flush`` again later)."""
        return bool(self._out)

    def send(self, message: Any) -> bool:
        """Queue ``message`` and write what the socket takes now. True if nothing is kept.

        Raises:
            LinkBroken: the other end is gone (the message is lost with it).
        """
        if self.closed:
            raise LinkBroken("the link is closed")
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._out += HEADER.pack(len(body))
        self._out += body
        return self.flush()

    def flush(self) -> bool:
        """Write what is kept, as far as the socket takes it. True if nothing is left.

        Raises:
            LinkBroken: the other end is gone.
        """
        while self._out and not self.closed:
            try:
                sent = self._sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                self.close()
                raise LinkBroken(f"the link broke: {exc}") from None
            del self._out[:sent]
        return not self._out

    def receive(self) -> list[Any]:
        """Every whole message that has arrived, in order (none if nothing has).

        Raises:
            LinkBroken: the other end closed (once the messages it sent before have been
                returned), or sent something that is not a frame.
        """
        if self.closed:
            raise LinkBroken("the link is closed")
        while not self._eof:
            try:
                chunk = self._sock.recv(BUFFER_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
                break
            self._in += chunk
        messages = self._frames()
        if self._eof and not messages:
            self.close()
            raise LinkBroken("the other end closed the link")
        return messages

    def _frames(self) -> list[Any]:
        messages: list[Any] = []
        start = 0
        while len(self._in) - start >= HEADER.size:
            (length,) = HEADER.unpack_from(self._in, start)
            if length > MOST_FRAME_BYTES:
                self.close()
                raise LinkBroken(f"a frame of {length} bytes is not one this link sends")
            if len(self._in) - start - HEADER.size < length:
                break
            body = bytes(self._in[start + HEADER.size:start + HEADER.size + length])
            start += HEADER.size + length
            try:
                messages.append(pickle.loads(body))
            except Exception as exc:
                self.close()
                raise LinkBroken(f"a frame could not be read: {type(exc).__name__}: {exc}") from None
        del self._in[:start]
        return messages

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._out.clear()
            try:
                self._sock.close()
            except OSError:
                pass


def link_pair() -> tuple[LinkEnd, socket.socket]:
    """A new link: the owner's end, and the worker's socket, to be inherited by the fork.

    The owner closes its copy of the worker's socket once the worker is forked
    (``close_after_fork``); the worker finds its end by the descriptor number and closes its
    copy of the owner's (``WorkerEnd``)."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for sock in (mine, theirs):
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)
            except OSError:
                pass  # the system's own limits apply
    return LinkEnd(mine), theirs


def inode(fd: int) -> int:
    """The socket's inode: how a forked worker tells that a descriptor number still names it."""
    return os.fstat(fd).st_ino


def adopt(fd: int, fd_inode: int) -> LinkEnd | None:
    """The worker's end of its link, if descriptor ``fd`` is still the socket the owner made."""
    try:
        if inode(fd) != fd_inode:
            return None
    except OSError:
        return None
    return LinkEnd.from_fd(fd)


def close_inherited(fd: int, fd_inode: int) -> None:
    """Close a copy of the owner's end inherited through the fork (only if ``fd`` still names it):
    while the worker held it, the owner's death would not close the link."""
    try:
        if inode(fd) == fd_inode:
            os.close(fd)
    except OSError:
        pass
