"""Is an owner dead, wedged, or just slow? And may its file have another owner now? Pure.

The Directory asks these two questions before it replaces an owner. Both take ``now``
and plain facts, so the rules are tested with literal times and no actor system.

*Dead is a fact, silent is not dead.* An owner whose process is gone is dead: it is
replaced at once (the first time). An owner is *wedged* only when its process is alive,
it is live (not activating, not replaying: those can take as long as the disk needs),
and the Directory has heard nothing from it for ``wedged_after`` seconds of wall time.
A slow fsync or a busy CPU delays answers by seconds; ``wedged_after`` is a minute or
more, so that never turns into a replacement.

*Replacement is rare and bounded.* Every replacement of a file (after a death or a
wedge) is counted in a window. The first is immediate; each further one waits twice as
long as the one before; after ``park_after`` of them in ``park_window`` the session is
*parked*: its turns fail with reason ``parked`` and nothing restarts it until an admin
command does. A file that kills every owner it gets cannot loop.
"""

from __future__ import annotations

import enum
import math

import attrs

from sessionward.errors import BadInputError


class Verdict(enum.StrEnum):
    """What the Directory concludes about an owner it was asked to replace."""

    DEAD = "dead"
    """The process is gone: replace it (subject to backoff)."""
    WEDGED = "wedged"
    """Alive, live and silent for ``wedged_after``: end its process, then replace it."""
    ACTIVATING = "activating"
    """Still opening, validating or replaying its file: never wedged, however long."""
    ANSWERING = "answering"
    """Heard from within ``wedged_after``: slow, perhaps, but not wedged."""


@attrs.frozen
class OwnerFacts:
    """What the Directory knows of one owner when asked to replace it."""

    state: str
    """The Directory's slot state: ``activating``, ``live``, ``passivating``, ``replacing``,
    ``backoff``."""
    process_alive: bool | None
    """Whether its process exists (``None``: unknown here, e.g. on another member)."""
    heard_time: float
    """When the Directory last received any message from it (activation counts)."""


def judge(facts: OwnerFacts, now: float, wedged_after: float) -> tuple[Verdict, str]:
    """Classify an owner recovery wants replaced. Returns the verdict and a one-line reason."""
    if facts.process_alive is False:
        return Verdict.DEAD, "its process is gone"
    if facts.state != "live":
        return Verdict.ACTIVATING, f"it is {facts.state}, not live"
    silent = now - facts.heard_time
    if silent < wedged_after:
        return Verdict.ANSWERING, f"heard from it {silent:.1f} s ago (wedged_after is {wedged_after:g} s)"
    return Verdict.WEDGED, f"silent for {silent:.1f} s with its process alive"


@attrs.frozen
class ReplacementPolicy:
    """How often one file's owner may be replaced. Seconds, counts."""

    backoff: float = 1.0
    """Delay before the second replacement in the window; doubled for each one after."""
    backoff_max: float = 60.0
    """The longest delay between two replacements."""
    park_after: int = 3
    """Replacements in ``park_window`` after which the session is parked instead."""
    park_window: float = 600.0
    """How far back replacements count."""

    def __attrs_post_init__(self) -> None:
        for name in ("backoff", "backoff_max", "park_window"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise BadInputError(f"{name} must be a finite positive number of seconds, got {value!r}")
        if isinstance(self.park_after, bool) or not isinstance(self.park_after, int) or self.park_after < 1:
            raise BadInputError(f"park_after must be an integer of at least 1, got {self.park_after!r}")


@attrs.frozen
class ReplacementHistory:
    """When one file's owners were replaced (start times of the replacements)."""

    times: tuple[float, ...] = ()


@attrs.frozen
class Restart:
    """Start a new owner after ``delay`` seconds (0: at once)."""

    delay: float


@attrs.frozen
class Park:
    """Do not restart: park the session until an admin command says otherwise."""

    reason: str


def next_replacement(
    history: ReplacementHistory, now: float, policy: ReplacementPolicy
) -> tuple[ReplacementHistory, Restart | Park]:
    """Decide what follows the loss of a file's owner, and record it.

    Returns:
        The new history and ``Restart(delay)`` or ``Park(reason)``. A parked file's history
        is returned unchanged: unparking starts it from a clean slate (see ``cleared``).
    """
    recent = tuple(t for t in history.times if now - t < policy.park_window)
    if len(recent) >= policy.park_after:
        return ReplacementHistory(recent), Park(
            f"its owner was replaced {len(recent)} times in {policy.park_window:g} s")
    delay = 0.0 if not recent else min(policy.backoff_max, policy.backoff * 2 ** (len(recent) - 1))
    return ReplacementHistory((*recent, now + delay)), Restart(delay)


def cleared() -> ReplacementHistory:
    """The history after an admin unparks a session."""
    return ReplacementHistory()
