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
travels over it instead of as Thespian messages, and the end of the link (the owner exited
or died) ends the worker.
"""

from __future__ import annotations

import os
from datetime import timedelta

import attrs
from thespian.actors import ActorExitRequest, ThespianWatch, WakeupMessage

from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import (
    FlushLink,
    PingStream,
    PumpStream,
    RunTurn,
    StartWorker,
    SteerStream,
    StopStream,
    StreamBatch,
    WorkerReady,
)
from sessionward.actors.stream_pump import ProviderStream
from sessionward.actors.worker_link import FLUSH_AGAIN_AFTER, LinkBroken, LinkEnd, adopt, close_inherited
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
        self._stream: ProviderStream | None = None
        self._batch_window = 0.02
        self._batch_max = 256
        self._parent_pid = os.getppid()
        self._context: list = []
        self._link: LinkEnd | None = None
        self._flush_due = False

    def receiveMessage(self, message, sender):
        super().receiveMessage(message, sender)
        # Thespian sets an actor's watched descriptors from each handler's return value.
        return ThespianWatch([self._link.fileno()]) if self._link is not None and not self._link.closed else None

    def _log_turn(self) -> str | None:
        return self._stream.turn_id if self._stream is not None else None

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
        if msg.link is not None and self._link is None:
            close_inherited(msg.link.owner_fd, msg.link.owner_inode)
            self._link = adopt(msg.link.worker_fd, msg.link.worker_inode)
            if self._link is None:  # the fork did not hand it over: a bug, and the turns would hang
                log.error("worker %s: descriptor %d is not its link (inode %d); its turns cannot run",
                          os.getpid(), msg.link.worker_fd, msg.link.worker_inode)
        self._provider = build_provider(msg.provider)
        self._parent_pid = os.getppid()
        self.send(sender, WorkerReady(os.getpid()))

    def receiveMsg_WatchMessage(self, msg, sender) -> None:
        link = self._link
        if link is None or link.fileno() not in msg.ready:
            return
        try:
            messages = link.receive()
        except LinkBroken:
            self._owner_gone()
            return
        handlers = {RunTurn: self.receiveMsg_RunTurn, StopStream: self.receiveMsg_StopStream,
                    PingStream: self.receiveMsg_PingStream, SteerStream: self.receiveMsg_SteerStream}
        for message in messages:
            handler = handlers.get(type(message))
            try:
                if handler is None:
                    log.warning("worker got an unexpected %s on its link", type(message).__name__)
                else:
                    handler(message, sender)
            except Exception:  # the next frames still go to their handler; nothing into Thespian
                log.exception("worker failed handling a %s from its link", type(message).__name__)

    def _owner_gone(self) -> None:
        """The link ended: the owner exited, died, or retired this worker. Stop and exit."""
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._stream is not None:
            self._stream.control.cancel()
            self._stream = None
        self.send(self.myAddress, ActorExitRequest())

    def _to_owner(self, batch: StreamBatch) -> None:
        if self._link is None:
            self.send(self._owner, batch)
            return
        try:
            if not self._link.send(batch):
                self._arm_flush()
        except LinkBroken:
            self._owner_gone()

    def _arm_flush(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            self.wakeupAfter(FLUSH_AGAIN_AFTER, payload=FlushLink())

    def receiveMsg_RunTurn(self, msg: RunTurn, sender) -> None:
        if self._stream is not None and self._stream.finished is None:
            self._stream.control.cancel()
        # The context is kept here between turns; the owner sends only what is new.
        self._context[msg.context_from:] = msg.context_delta
        request = attrs.evolve(msg.request, context=tuple(self._context))
        self._stream = ProviderStream(msg.turn_id, self._provider, request)
        self._pump(msg.turn_id)

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        if isinstance(msg.payload, PumpStream):
            self._pump(msg.payload.turn_id)
        elif isinstance(msg.payload, FlushLink):
            self._flush_due = False
            try:
                if self._link is not None and not self._link.flush():
                    self._arm_flush()
            except LinkBroken:
                self._owner_gone()

    def _pump(self, turn_id: str) -> None:
        stream = self._stream
        if stream is None or stream.turn_id != turn_id:
            return
        events, done = stream.take(self._batch_window, self._batch_max)
        if events or done:
            self._to_owner(StreamBatch(turn_id, tuple(events), done, stream_seconds=stream.seconds))
            if self._stream is not stream:
                return  # the link ended under it (``_owner_gone``)
        if done:
            self._stream = None
        elif os.getppid() != self._parent_pid:
            # The owner's process died (SIGKILL): stop streaming for nobody and exit.
            stream.control.cancel()
            self._stream = None
            self.send(self.myAddress, ActorExitRequest())
        else:
            # A timer, not a message to ourselves: Thespian's TCP transport queues a
            # self-send straight into its incoming queue and drains that before servicing
            # any socket, so our StreamBatch sends (and the owner's StopStream) waited for
            # the stream to end. A zero-delay timer starves the sockets the same way (the
            # transport's run window is already expired); 1 ms leaves it one select pass.
            self.wakeupAfter(PUMP_AGAIN_AFTER, payload=PumpStream(turn_id))

    def receiveMsg_StopStream(self, msg: StopStream, sender) -> None:
        if self._stream is not None and self._stream.turn_id == msg.turn_id:
            self._stream.control.cancel()
            self._stream = None

    def receiveMsg_PingStream(self, msg: PingStream, sender) -> None:
        if self._stream is not None and self._stream.turn_id == msg.turn_id:
            self._stream.control.ping()

    def receiveMsg_SteerStream(self, msg: SteerStream, sender) -> None:
        if self._stream is not None and self._stream.turn_id == msg.turn_id:
            self._stream.control.steer(msg.text)

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        if self._stream is not None:
            self._stream.control.cancel()
        if self._link is not None:
            self._link.close()
            self._link = None
