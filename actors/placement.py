"""Where a new owner goes in a convention of several actor systems. Pure.

A session file is placed on a live member by rendezvous (highest-random-weight) hashing of
its path, or on the least-loaded member with rendezvous order breaking ties, unless the
config pins it. Rendezvous hashing moves only the lost member's sessions when a member
leaves, and needs no shared state: every Directory that knows the same members computes
the same placement.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sessionward.errors import NoMemberError as NoMemberError  # defined in errors.py; imported from here too


class Strategy(enum.StrEnum):
    HASH = "hash"
    LEAST_LOADED = "least_loaded"


def rendezvous_order(path: str, members: Sequence[str]) -> list[str]:
    """Members in preference order for ``path`` (stable across processes and runs)."""
    return sorted(members, key=lambda m: hashlib.blake2b(f"{m}\0{path}".encode(), digest_size=8).digest(),
                  reverse=True)


def place(
    path: str,
    session_key: str,
    loads: Mapping[str, int],
    *,
    strategy: Strategy = Strategy.HASH,
    pins: Mapping[str, str] | None = None,
) -> str:
    """The member that should own ``path``.

    Args:
        path: The session file's canonical path.
        session_key: The key that reached it (pins match keys with ``fnmatch`` patterns).
        loads: Live members and their live owner counts.
        strategy: ``hash`` (stable) or ``least_loaded``.
        pins: ``{key pattern: member}``; a pin to a member that is not live is ignored
            (the session must still be served), and reported by the caller.

    Raises:
        NoMemberError: ``loads`` is empty.
    """
    if not loads:
        raise NoMemberError("no live member to place the session on")
    for pattern, member in (pins or {}).items():
        if fnmatch.fnmatchcase(session_key, pattern) and member in loads:
            return member
    order = rendezvous_order(path, list(loads))
    if strategy is Strategy.LEAST_LOADED:
        least = min(loads.values())
        return next(m for m in order if loads[m] == least)
    return order[0]


def epochs_in_order(entries: Sequence[Mapping[str, Any]]) -> bool:
    """True if ``ownerEpoch`` never decreases in file order (no superseded owner wrote late).

    Entries without an epoch (written before sessionward, or by an outside writer) are
    skipped.
    """
    last = -1
    for e in entries:
        epoch = e.get("ownerEpoch")
        if isinstance(epoch, int):
            if epoch < last:
                return False
            last = epoch
    return True


def next_epoch(entries: Sequence[Mapping[str, Any]]) -> int:
    """The epoch a new owner of a file takes: one past the highest written in it."""
    return 1 + max((e["ownerEpoch"] for e in entries if isinstance(e.get("ownerEpoch"), int)), default=0)
