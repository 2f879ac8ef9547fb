"""TurnWorker: runs one provider stream at a time and forwards its events to the owner.

The provider runs in a ``ProviderStream``'s thread (``actors/stream_pump.py``), never in a
handler. Each pump waits at most one batch window on the thread's queue, sends what
arrived as one ``StreamBatch``, and schedules the next pump on a 1 ms timer (a message to
itself, or a zero-delay timer, would starve the transport's sockets: see ``_pump``).
Batching (``batch_window`` seconds or ``batch_max`` events) keeps a stream of thousands of
tokens per second from flooding the actor system, and the bounded wait keeps the worker
responsive to ``StopStream``.

The worker never touches the transcript. It stamps every batch with its turn id, so the
owner can ignore anything from a turn that is no longer current.

With a link to its owner (``StartWorker.link``, ``actors/worker_link.py``), the data path
(``RunTurn``, ``StopStream``, ``PingStream``, ``SteerStream`` in; ``StreamBatch`` out)
travels over it instead of as Thespian messages, served by a thread of this process
(``actors/link_server.py``), and the end of the link (the owner exited or died) ends the
worker. Without one (``simpleSystemBase``, which cannot watch a descriptor), the same
messages come through Thespian and the stream is pumped here, on a timer.
"""

from __future__ import annotations

import os
from datetime import timedelta

from thespian.actors import ActorExitRequest, ThespianWatch, WakeupMessage

from sessionward.actors.base import GuardedActor
from sessionward.actors.link_server import LinkEnded, LinkServer
from sessionward.actors.messages import (
    PingStream,
    PumpStream,
    RunTurn,
    StartWorker,
    SteerStream,
    StopStream,
    WorkerReady,
)
from sessionward.actors.worker_link import adopt, close_inherited
from sessionward.actors.worker_streams import WorkerStreams
from sessionward.logs import ActorLogger
from sessionward.providers.base import build_provider

log = ActorLogger("sessionward.worker")  # resolved per call: see sessionward.logs

PUMP_AGAIN_AFTER = timedelta(milliseconds=1)
"""Between two pumps, the transport gets this long to send batches and read messages."""


class TurnWorker(GuardedActor):
    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._provider = None
        self._owner = None
        self._streams = WorkerStreams(None)
        """The data path without a link (``simpleSystemBase``); with one, the server has its own."""
        self._batch_window = 0.02
        self._batch_max = 256
        self._parent_pid = os.getppid()
        self._server: LinkServer | None = None

    def receiveMessage(self, message, sender):
        super().receiveMessage(message, sender)
        # Thespian sets an actor's watched descriptors from each handler's return value.
        return ThespianWatch([self._server.notice_fd]) if self._server is not None else None

    def _log_turn(self) -> str | None:
        return self._streams.current.turn_id if self._streams.current is not None else None

    def receiveMsg_StartWorker(self, msg: StartWorker, sender) -> None:
        self._owner = sender
        self._batch_window = msg.batch_window
        self._batch_max = msg.batch_max
        if msg.owner_pid and msg.owner_pid != os.getpid():
            # Forked from the owner, this process holds copies of its descriptors, and a
            # flock belongs to the open file, not the process: if the owner died first,
            # our copy would keep its transcript locked. Drop them.
            for fd, path in msg.inherited_fds:
                try:
                    if os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")) == os.path.realpath(path):
                        os.close(fd)  # only if the number still names that file here
                except OSError:
                    pass
        self._provider = build_provider(msg.provider)
        self._streams.provider = self._provider  # a stream already running goes on
        self._parent_pid = os.getppid()
        if msg.link is not None and self._server is None:
            close_inherited(msg.link.owner_fd, msg.link.owner_inode)
            link = adopt(msg.link.worker_fd, msg.link.worker_inode)
            if link is None:  # the fork did not hand it over: a bug, and the turns would hang
                log.error("worker %s: descriptor %d is not its link (inode %d); its turns cannot run",
                          os.getpid(), msg.link.worker_fd, msg.link.worker_inode)
            else:
                self._server = LinkServer(link, self._provider, self._batch_window, self._batch_max, self._parent_pid)
                self._server.start()
        self.send(sender, WorkerReady(os.getpid()))

    def receiveMsg_WatchMessage(self, msg, sender) -> None:
        server = self._server
        if server is None or server.notice_fd not in msg.ready:
            return
        for notice in server.take_notices():
            if isinstance(notice, LinkEnded):  # the owner exited, died, or retired this worker
                log.debug("worker %s: its link ended: %s", os.getpid(), notice.reason)
                self._server = None
                self.send(self.myAddress, ActorExitRequest())
            else:
                log.log(notice.level, "%s", notice.text)

    # -- without a link: the data path as Thespian messages, pumped on a timer -----------------

    def receiveMsg_RunTurn(self, msg: RunTurn, sender) -> None:
        self._streams.run(msg)
        self._pump(msg.turn_id)

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        if isinstance(msg.payload, PumpStream):
            self._pump(msg.payload.turn_id)

    def _pump(self, turn_id: str) -> None:
        stream = self._streams.current
        if stream is None or stream.turn_id != turn_id:
            return
        batch = self._streams.take(self._batch_window, self._batch_max)
        if batch is not None:
            self.send(self._owner, batch)
        if self._streams.current is None:
            return  # done
        if os.getppid() != self._parent_pid:
            # The owner's process died (SIGKILL): stop streaming for nobody and exit.
            self._streams.cancel()
            self.send(self.myAddress, ActorExitRequest())
        else:
            # A timer, not a message to ourselves: Thespian's TCP transport queues a
            # self-send straight into its incoming queue and drains that before servicing
            # any socket, so our StreamBatch sends (and the owner's StopStream) waited for
            # the stream to end. A zero-delay timer starves the sockets the same way (the
            # transport's run window is already expired); 1 ms leaves it one select pass.
            self.wakeupAfter(PUMP_AGAIN_AFTER, payload=PumpStream(turn_id))

    def receiveMsg_StopStream(self, msg: StopStream, sender) -> None:
        self._streams.control(msg)

    def receiveMsg_PingStream(self, msg: PingStream, sender) -> None:
        self._streams.control(msg)

    def receiveMsg_SteerStream(self, msg: SteerStream, sender) -> None:
        self._streams.control(msg)

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        self._streams.cancel()
        if self._server is not None:
            self._server.stop()  # its thread closes the link; the process ends anyway
            self._server = None
