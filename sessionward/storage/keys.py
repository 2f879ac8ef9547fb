"""Session keys and session ids: what is accepted, and why.

A session key names a conversation (``agent:main:discord:channel:123``, ``cron:nightly``);
a session id names its transcript file (``sessions/<id>.jsonl``). Keys come from lanes and
users, so they are validated before they reach the file system: a key is never used as a
path, and an id is checked so that it cannot leave the store.
"""

from __future__ import annotations

import re

from sessionward.errors import InvalidSessionKeyError, PathEscapesStoreError

MAX_KEY_LENGTH = 512
"""Longest accepted session key, in characters."""

MAX_ID_LENGTH = 128
"""Longest accepted session id, in characters (a file name on every file system)."""

# A segment is printable ASCII without separators or path characters. ':' separates
# segments, so it cannot appear inside one; '/' and '\\' never appear anywhere.
_SEGMENT = re.compile(r"[A-Za-z0-9_.@+\-]{1,128}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_KEY_ROOTS = frozenset({"agent", "cron", "hook", "node", "subagent", "session"})


def validate_session_key(key: object) -> str:
    """Return ``key`` if it is a well-formed session key.

    Accepted shapes: ``agent:<agent>:<rest...>`` (at least one segment after the agent),
    ``cron:<job>[:...]``, and the other roots in ``_KEY_ROOTS``. Every segment matches
    ``[A-Za-z0-9_.@+-]{1,128}`` and is not ``.`` or ``..``.

    Raises:
        InvalidSessionKeyError: the key is not a string, empty, too long, has an unknown
            root, an empty segment, or a forbidden character (``/``, NUL, spaces, ...).
    """
    if not isinstance(key, str):
        raise InvalidSessionKeyError(f"session key must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidSessionKeyError("session key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidSessionKeyError(f"session key is longer than {MAX_KEY_LENGTH} characters")
    segments = key.split(":")
    root = segments[0]
    if root not in _KEY_ROOTS:
        raise InvalidSessionKeyError(
            f"session key {key!r} must start with one of {sorted(_KEY_ROOTS)} followed by ':'"
        )
    minimum = 3 if root == "agent" else 2
    if len(segments) < minimum:
        raise InvalidSessionKeyError(f"session key {key!r} has too few ':' segments")
    for segment in segments[1:]:
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            raise InvalidSessionKeyError(
                f"session key {key!r} has a malformed segment {segment!r}"
                " (allowed: letters, digits and _ . @ + -)"
            )
    return key


def validate_session_id(session_id: object) -> str:
    """Return ``session_id`` if it is safe as a file name inside ``sessions/``.

    Raises:
        PathEscapesStoreError: the id could name a path outside the store (``..``, ``/``,
            NUL, a leading dot, or longer than ``MAX_ID_LENGTH``).
    """
    if not isinstance(session_id, str) or not _ID.fullmatch(session_id) or ".." in session_id:
        raise PathEscapesStoreError(f"session id {session_id!r} is not a safe file name")
    return session_id
