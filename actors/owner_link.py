"""The owner's side of its worker's link (``actors/worker_link.py``).

``_new_worker`` forks a ``TurnWorker`` with a socket pair made just before, when the
owner's transport can watch descriptors (Thespian's socket transports; not
``simpleSystemBase``, where the data path stays Thespian messages). ``_to_worker`` sends a
data-path message over the link, ``_read_link`` hands the ``StreamBatch`` frames that
arrived to the same handler a Thespian message would reach, and the link's descriptor is
watched for as long as it is open (``_link_watch``). Kept out of ``owner.py`` because it is
one idea: how an owner and its worker talk when Thespian does not carry it.
"""

from __future__ import annotations

from typing import Any

from sessionward.actors import messages as M
from sessionward.actors.worker import TurnWorker
from sessionward.actors.worker_link import FLUSH_AGAIN_AFTER, LinkBroken, LinkEnd, inode, link_pair
from sessionward.logs import ActorLogger

log = ActorLogger("sessionward.owner")  # resolved per call: see sessionward.logs


class WorkerOverLink:
    """Mixin for ``SessionOwner``: its worker's link. Needs ``_can_watch`` (``owner_streams``)."""

    _link: LinkEnd | None = None
    _link_fds: M.WorkerLink | None = None
    """What the worker forked with ``_link`` is told in ``StartWorker``."""
    _link_flush_due = False

    def _new_worker(self) -> Any:
        """Fork a worker, with a link to it when this transport can watch one."""
        self._close_link()
        if not self._can_watch():  # type: ignore[attr-defined]
            return self.createActor(TurnWorker)  # type: ignore[attr-defined]
        link, theirs = link_pair()
        try:
            worker = self.createActor(TurnWorker)  # type: ignore[attr-defined]  # forks: the child inherits both ends
            self._link = link
            self._link_fds = M.WorkerLink(theirs.fileno(), inode(theirs.fileno()), link.fileno(), inode(link.fileno()))
        except BaseException:
            link.close()
            raise
        finally:
            theirs.close()  # the worker's copy is the one it keeps
        return worker

    def _link_watch(self) -> list[int]:
        """The descriptors to watch for the link: its own, while it is open."""
        return [self._link.fileno()] if self._link is not None and not self._link.closed else []

    def _to_worker(self, message: Any) -> None:
        """Send the worker a data-path message: over the link if there is one, else as a message."""
        link = self._link
        if link is None:
            self.send(self._worker, message)  # type: ignore[attr-defined]
            return
        try:
            if not link.send(message):
                self._arm_link_flush()
        except LinkBroken as exc:
            # The worker is gone: its ChildActorExited ends the running turn, and the next
            # turn starts a new worker.
            log.warning("owner %s lost its worker's link: %s", self._setup.path, exc)  # type: ignore[attr-defined]
            self._close_link()

    def _arm_link_flush(self) -> None:
        if not self._link_flush_due:
            self._link_flush_due = True
            self.wakeupAfter(FLUSH_AGAIN_AFTER, payload=M.FlushLink())  # type: ignore[attr-defined]

    def _flush_link(self) -> None:
        self._link_flush_due = False
        if self._link is None:
            return
        try:
            if not self._link.flush():
                self._arm_link_flush()
        except LinkBroken:
            self._close_link()

    def _read_link(self) -> None:
        """Hand every ``StreamBatch`` that has arrived on the link to its handler, in order."""
        link = self._link
        if link is None:
            return
        try:
            messages = link.receive()
        except LinkBroken as exc:
            # The worker exited (retired, or died: its ChildActorExited follows).
            log.debug("owner %s: worker link closed: %s", self._setup.path, exc)  # type: ignore[attr-defined]
            self._close_link()
            return
        self._handle_frames(messages)

    def _read_dead_link(self) -> None:
        """The worker died: take the link away (a new worker gets a new one), hand on what it
        sent before it died, and close it. A turn that ended there starts the next one,
        which then runs on a new worker."""
        link, self._link, self._link_fds = self._link, None, None
        if link is None:
            return
        messages: list[Any] = []
        try:
            while True:  # until its end of file: everything it wrote is in the socket now
                more = link.receive()
                if not more:
                    break
                messages += more
        except LinkBroken:
            pass
        link.close()
        self._handle_frames(messages)

    def _handle_frames(self, messages: list[Any]) -> None:
        for message in messages:
            try:
                if isinstance(message, M.StreamBatch):
                    self.receiveMsg_StreamBatch(message, self._worker)  # type: ignore[attr-defined]
                else:
                    log.warning("owner %s: unexpected %s on its worker's link", self._setup.path,  # type: ignore[attr-defined]
                                type(message).__name__)
            except Exception:  # the next frames still go to their handler; nothing into Thespian
                log.exception("owner %s failed handling a %s from its worker's link",
                              self._setup.path, type(message).__name__)  # type: ignore[attr-defined]

    def _close_link(self) -> None:
        if self._link is not None:
            self._link.close()
        self._link, self._link_fds = None, None

    def _link_ready(self, ready: list[int]) -> bool:
        """Whether a ``WatchMessage``'s ready descriptors include the link's."""
        return self._link is not None and not self._link.closed and self._link.fileno() in ready
