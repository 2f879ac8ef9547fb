"""An owner's answers to its submitters, held while one already waits to be sent to the
same submitter (issue 17). Pure: no actor engine; what waits is the caller's to say
(``sessionward.hosting.transmits``).

Thespian sends one message at a time to an address and waits for the peer's ACK before
the next. When a client is slower to take its messages than its owners are to finish
turns (a saturated runtime: one client process among many busy owners), each owner's
outcomes queue up in its transport, which walks that queue on every pass of its loop. Held
here instead, they leave together, as one ``Answers``, once the one that waited is being
sent: fewer messages for the client to take, and at most two (one being sent, one waiting)
for the owner's transport to walk.

Nothing waits that would not have waited anyway: an answer goes at once unless one to its
address already waits behind another (a turn alone never waits), and a held one goes on
the owner's next handler call, or its next ``ANSWERS_DUE`` timer, once that one is being
sent. Answers to one address leave in the order they were given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ANSWERS_DUE = 0.02
"""Seconds after which an owner with answers held looks again whether they can go, when no
message has made it look sooner. The stream batch window: a saturated owner looks at each
turn's end anyway, and at 5 ms the timer fired 0.69 times per turn (0.46 at 20 ms)."""

MOST_HELD = 256
"""Answers held for one address at most; then they go together even if one still waits (a
client that takes nothing must not make an owner hold without bound)."""


class HeldAnswers:
    """Answers held until the one waiting before them is being sent, in order, per address.

    Addresses are compared with ``==``: Thespian's ``ActorAddress`` is not hashable, and an
    owner answers few submitters, so a list is enough.
    """

    def __init__(self) -> None:
        self._held: list[tuple[Any, list[Any]]] = []

    def __bool__(self) -> bool:
        return bool(self._held)

    def offer(self, address: Any, answer: Any, waiting: bool) -> bool:
        """Hold ``answer`` if one to ``address`` is ``waiting`` to be sent, or is already held
        for it (order); True if held, False if the caller sends it now."""
        if waiting or self._group(address) is not None:
            self.hold(address, answer)
            return True
        return False

    def hold(self, address: Any, answer: Any) -> None:
        """Hold ``answer`` behind those held for ``address`` (an owner taking a batch of
        submits holds all its answers so, and sends each submitter's together: ``all``)."""
        group = self._group(address)
        if group is None:
            self._held.append((address, [answer]))
        else:
            group.append(answer)

    def _group(self, address: Any) -> list[Any] | None:
        for held_for, answers in self._held:
            if held_for == address:
                return answers
        return None

    def due(self, waiting: Callable[[Any], bool]) -> list[tuple[Any, tuple[Any, ...]]]:
        """The held answers that may go now, per address: those whose address has nothing
        ``waiting`` any more, or holds ``MOST_HELD``. They are no longer held."""
        ready = [(to, answers) for to, answers in self._held if len(answers) >= MOST_HELD or not waiting(to)]
        return self._release(ready)

    def all(self) -> list[tuple[Any, tuple[Any, ...]]]:
        """Every held answer, per address in the order each was first held (the owner is
        stopping, or a batch is taken: nothing is left behind)."""
        return self._release(list(self._held))

    def _release(self, ready: list[tuple[Any, list[Any]]]) -> list[tuple[Any, tuple[Any, ...]]]:
        for item in ready:
            self._held.remove(item)
        return [(to, tuple(answers)) for to, answers in ready]
