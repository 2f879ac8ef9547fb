"""The Directory's spare owners: SessionOwner processes started before a session needs one.

Activating a session on the Directory's own member takes a spare, so activation is one
message to a running process instead of a fork, an interpreter's start-up and Thespian's
connection hand-shake. The pool is refilled on a timer after a spare is taken or lost, never
in the handler that activates (that fork would delay the activation it was meant to save).
Spares are only ever on the Directory's own member: an owner placed on another member of a
convention is started there, as before.

Pure: no actor engine; addresses are opaque values (an ``ActorAddress`` is unhashable, so
they are kept in a list and compared with ``==``).
"""

from __future__ import annotations

from typing import Any

import attrs

REFILL_AFTER = 0.05
"""Seconds between taking a spare and starting its replacement: the activation that took it
(and any other in the same burst) goes first."""


@attrs.define
class SparePool:
    """Spare owner addresses, oldest first, and whether a refill is already due."""

    size: int = 0
    """How many spares to keep (``RuntimeConfig.spare_owners``); 0: none."""
    spares: list[Any] = attrs.Factory(list)
    refill_armed: bool = False
    closed: bool = False
    """Shutting down: nothing is started again."""

    def take(self) -> Any | None:
        """The oldest spare (started longest ago, so most likely ready), or None."""
        return self.spares.pop(0) if self.spares else None

    def wanted(self) -> int:
        """How many spares to start now."""
        return 0 if self.closed else max(0, self.size - len(self.spares))

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
        return ended
