"""The Directory's timers: what each ``wakeupAfter`` payload asks for (typed, not strings).

A payload travels back to the Directory in a ``WakeupMessage``; a record says which timer
fired and carries what it needs, so the handler matches on type and a typo is an error.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class CheckProcesses:
    """Every ``PROCESS_CHECK_EVERY`` seconds: look in the process table for owners that died."""


@attrs.frozen
class FlushIndex:
    """``index_flush_after`` after the first unsaved index change: write the index."""


@attrs.frozen
class FlushIndexNow:
    """A new key's owner is live and has its held messages: write the index, in a handler
    of its own so that those messages are on their way meanwhile."""


@attrs.frozen
class GatherDue:
    """An admin fan-out's time is up: answer with what arrived."""

    gather_id: str


@attrs.frozen
class RestartDue:
    """A lost owner's backoff has passed: start its successor."""

    path: str


@attrs.frozen
class RehomeRetry:
    """A successor found its file still locked (a re-homed session whose lost owner may
    live, or an owner that died here whose lock is not let go yet): try to take it again."""

    path: str


@attrs.frozen
class RefillSpares:
    """A spare owner was taken or lost (``actors/spare_owners.py``): start new ones."""
