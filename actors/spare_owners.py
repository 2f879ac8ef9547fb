"""The Directory's spare owners: SessionOwner processes started before a session needs one.

Activating a session on the Directory's own member takes a spare, so activation is one
message to a running process instead of a fork, an interpreter's start-up and Thespian's
connection hand-shake. The pool is refilled on a timer after a spare is taken or lost, never
in the handler that activates (that fork would delay the activation it was meant to save).

The factory is asked for **one owner at a time** (``to_ask``): the next once the last has
come. It used to be asked for every missing spare at once, and it forks a request's owners
in one handler and answers them together, so an activation that found the pool empty
waited behind the whole batch, and the batch's process starts took both cores from the
activations of the same burst. 100 new sessions one after another (``index_activation``,
over 100,000 known, three runs each): activation p50 12.2-13.4 ms with the batch, 7.9-10.7
one at a time; the burst's pattern went from two on spares, one forked on the spot and one
behind the batch (20-40 ms) to two on spares and one forked on the spot (15-20 ms). A
bigger pool did not help once the factory is asked one at a time: keeping more spares kept
the factory forking through the burst (``docs/performance.md``).

Spares are only ever on the Directory's own member: an owner placed on another member of a
convention is started there, as before.

Where there is an owner factory (``actors/owner_factory.py``) the owners come from it, a
message away: the pool also keeps what was asked of it and not answered yet, and the
activations that found no spare and wait for a new owner. An answer goes to those first,
oldest first; the rest become spares. Whatever the factory does not deliver in time
(``FORK_WAIT``), or cannot deliver (it failed a fork, or died), the Directory forks
itself: an activation never waits on the factory for longer than that.

Pure: no actor engine; addresses are opaque values (an ``ActorAddress`` is unhashable, so
they are kept in a list and compared with ``==``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

REFILL_AFTER = 0.05
"""Seconds between taking a spare and starting its replacement: the activation that took it
(and any other in the same burst) goes first."""


FORK_WAIT = 5.0
"""Seconds an activation waits for the factory's owner before the Directory forks one."""


@attrs.define
class WaitingActivation:
    """A session whose activation found no spare: it is activated with the next owner the
    factory delivers (``ActivateOwner``'s arguments the Directory keeps until then)."""

    path: str
    since: float
    fail_unfinished_as: str | None = None
    after_loss: bool = False


@attrs.frozen
class Delivered:
    """What to do with a factory's answer (``SparePool.forked``)."""

    activate: list[tuple[WaitingActivation, Any]]
    """Waiting activations, each with its owner."""
    spares: list[Any]
    """New spares (already in the pool): to be told ``StandBy``."""
    surplus: list[Any]
    """Owners nobody wants any more (the pool is full or closed): to be ended."""
    fork_here: list[WaitingActivation]
    """Activations no owner is coming for any more: the Directory forks theirs."""


@attrs.define
class SparePool:
    """Spare owner addresses, oldest first, and whether a refill is already due."""

    size: int = 0
    """How many spares to keep (``RuntimeConfig.spare_owners``); 0: none."""
    spares: list[Any] = attrs.Factory(list)
    refill_armed: bool = False
    closed: bool = False
    """Shutting down: nothing is started again."""
    asked: dict[int, tuple[int, float]] = attrs.Factory(dict)
    """Requests to the factory not answered yet: request number -> (owners, asked at)."""
    waiting: list[WaitingActivation] = attrs.Factory(list)
    """Activations waiting for the factory's next owner, oldest first."""
    _last_request: int = 0

    def coming(self) -> int:
        """Owners asked of the factory and not delivered yet."""
        return sum(count for count, _ in self.asked.values())

    def take(self) -> Any | None:
        """The oldest spare (started longest ago, so most likely ready), or None."""
        return self.spares.pop(0) if self.spares else None

    def wanted(self) -> int:
        """How many spares to start now."""
        on_the_way = max(0, self.coming() - len(self.waiting))
        return 0 if self.closed else max(0, self.size - len(self.spares) - on_the_way)

    def to_ask(self) -> int:
        """How many owners to ask the factory for now: one while the pool wants spares and
        none of its own is on the way; else none (an owner on the way for a waiting
        activation is not the pool's). Asked again when that one comes (``forked``)."""
        on_the_way = max(0, self.coming() - len(self.waiting))
        return 1 if on_the_way == 0 and self.wanted() > 0 else 0

    def arm_refill(self) -> bool:
        """Whether a refill timer must be set now (one is enough, whatever was taken)."""
        if self.refill_armed or not self.wanted():
            return False
        self.refill_armed = True
        return True

    def refill_due(self) -> int:
        """The refill timer fired: how many spares to start (then ``add`` each)."""
        self.refill_armed = False
        return self.wanted()

    def add(self, address: Any) -> None:
        self.spares.append(address)

    def forget(self, address: Any) -> bool:
        """A child exited: True if it was a spare (it is no longer one)."""
        for i, spare in enumerate(self.spares):
            if spare == address:
                del self.spares[i]
                return True
        return False

    def close(self) -> list[Any]:
        """Shutting down: every spare, to be ended; none is started again."""
        self.closed = True
        ended, self.spares = self.spares, []
        self.waiting = []
        return ended

    # -- the factory ------------------------------------------------------------------------

    def ask(self, count: int, now: float) -> int:
        """Record a request for ``count`` owners; returns its number, which ``ForkOwners``
        carries and ``OwnersForked`` brings back."""
        self._last_request += 1
        self.asked[self._last_request] = (count, now)
        return self._last_request

    def wait(self, activation: WaitingActivation) -> bool:
        """An activation found no spare. True if an owner must be asked for it (none of
        those already asked for is free to take it)."""
        self.waiting.append(activation)
        return len(self.waiting) > self.coming()

    def forked(self, request: int, addresses: list[Any] | tuple[Any, ...],
               waits: Callable[[str], bool]) -> Delivered:
        """The factory answered ``request`` (one ``overdue`` forgot, maybe): waiting
        activations get the owners first (those ``waits`` says still wait), the rest fill
        the pool, and what is left over is surplus. Failed forks may leave activations no
        owner is coming for: ``fork_here``."""
        self.asked.pop(request, None)
        self.waiting = [w for w in self.waiting if waits(w.path)]
        rest = list(addresses)
        activate = []
        while rest and self.waiting:
            activate.append((self.waiting.pop(0), rest.pop(0)))
        room = 0 if self.closed else max(0, self.size - len(self.spares))
        spares, surplus = rest[:room], rest[room:]
        self.spares.extend(spares)
        return Delivered(activate, spares, surplus, self._unserved())

    def overdue(self, now: float, after: float = FORK_WAIT) -> list[WaitingActivation]:
        """Forget requests older than ``after`` seconds (a late answer only fills the pool);
        the activations no owner is coming for now: the Directory forks theirs."""
        self.asked = {n: (count, at) for n, (count, at) in self.asked.items() if now - at < after}
        return self._unserved()

    def factory_lost(self) -> tuple[list[WaitingActivation], list[Any]]:
        """The factory died: nothing asked of it comes. Returns the waiting activations (the
        Directory forks theirs) and the spares, to be ended: their exits would not be told."""
        self.asked = {}
        waiting, self.waiting = self.waiting, []
        spares, self.spares = self.spares, []
        return waiting, spares

    def _unserved(self) -> list[WaitingActivation]:
        """The oldest waiting activations beyond the owners still coming, taken out."""
        beyond = len(self.waiting) - self.coming()
        if beyond <= 0:
            return []
        out, self.waiting = self.waiting[:beyond], self.waiting[beyond:]
        return out
