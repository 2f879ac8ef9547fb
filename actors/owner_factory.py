"""OwnerFactory: the process every local SessionOwner is forked from.

Why not the Directory: a forked child shares its parent's memory pages until either side
writes one, and the Directory writes all the time (its tables grow with the sessions, its
collector runs). Every page the Directory wrote after an owner's fork became that owner's
own copy, so an owner forked late cost more than one forked early, and the total grew
with the square of the number of owners (measured: 6.3 KiB more per owner for every
owner already live; ``docs/performance.md``). The factory is forked from the Directory
at start-up, before the index is loaded, and then only forks: its pages stay as they were,
and the owners keep sharing them.

Thespian creates an actor in its creator's process and tells only the creator (its
parent) when it exits, so the factory forwards each ``ChildActorExited`` to the Directory
as ``OwnerExited``. If the factory itself dies, its owners die with it, as every process
below the admin dies with its parent (``hosting/lifetime.py``); the Directory takes that
as each one's death (``_factory_exited``): their sessions get successors, which replay
what was accepted, as after any owner's death.

Thin, as every actor here: the Directory decides how many owners it wants and what they
are for (``actors/spare_owners.py``).
"""

from __future__ import annotations

import os
from typing import Any

from thespian.actors import ActorExitRequest, ChildActorExited

from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import ForkOwners, OwnerExited, OwnersForked
from sessionward.hosting.processes import freeze_for_good
from sessionward.logs import ActorLogger

log = ActorLogger("sessionward.factory")  # resolved per call: see sessionward.logs

MOST_PER_REQUEST = 64
"""A bigger ``ForkOwners`` is cut to this (each fork holds this actor for a few ms)."""


class OwnerFactory(GuardedActor):
    """Forks SessionOwners for the Directory (``ForkOwners`` -> ``OwnersForked``) and tells
    it when one exits (``OwnerExited``)."""

    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._directory: Any = None

    def receiveMsg_ForkOwners(self, msg: ForkOwners, sender) -> None:
        from sessionward.actors.owner import SessionOwner

        self._directory = sender
        if os.getpid() != msg.directory_pid:
            freeze_for_good(immortal=msg.immortal_heap)
        made: list[Any] = []
        failed = 0
        for _ in range(max(0, min(msg.count, MOST_PER_REQUEST))):
            try:
                made.append(self.createActor(SessionOwner))
            except Exception:  # told as a count: the Directory forks those itself
                log.exception("owner factory could not fork an owner")
                failed += 1
        self.send(sender, OwnersForked(msg.request, tuple(made), failed + max(0, msg.count - MOST_PER_REQUEST),
                                       os.getpid()))

    def receiveMsg_ChildActorExited(self, msg: ChildActorExited, sender) -> None:
        if self._directory is not None:
            self.send(self._directory, OwnerExited(msg.childAddress))

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        """Thespian ends this actor's children (the owners) after this returns: each of
        them gets its own ``ActorExitRequest`` and finishes what it owes first."""
