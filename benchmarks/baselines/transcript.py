"""The baselines' transcript file: pi-style JSONL entries, appends, the fence fingerprint.

A transcript starts with a session header line, then one entry a line:

    {"type": "message", "id": "1f0c9a3e", "parentId": "<previous id or null>",
     "timestamp": "2025-01-01T00:00:00.000Z", "turnId": "t1-00003",
     "message": {"role": "user" | "assistant", "content": [{"type": "text", "text": ...}],
                 "model": ..., "stopReason": "stop" | "aborted"}}

``model`` and ``stopReason`` appear on assistant entries only, as in pi's sessions.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple


class Fingerprint(NamedTuple):
    """What openclaw's fence compares: the transcript's identity, size and change times."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def fingerprint(path: Path) -> Fingerprint:
    """Stat the file now. Any append changes ``size``, so no write goes unseen even where
    the file system's timestamps are coarse."""
    st = os.stat(path)
    return Fingerprint(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_entry_id() -> str:
    """Eight hex digits, as pi's entry ids."""
    return os.urandom(4).hex()


def create_transcript(path: Path) -> None:
    """Create the file with its session header; an existing file is left alone."""
    header = {"type": "session", "version": 3, "id": str(uuid.uuid4()), "timestamp": now_iso()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    try:
        os.write(fd, (json.dumps(header) + "\n").encode())
    finally:
        os.close(fd)


def message_entry(
    *,
    turn_id: str,
    parent_id: str | None,
    role: str,
    text: str,
    model: str | None = None,
    stop_reason: str | None = None,
) -> dict[str, Any]:
    """Build one message entry (see the module docstring for its shape)."""
    message: dict[str, Any] = {"role": role, "content": [{"type": "text", "text": text}]}
    if model is not None:
        message["model"] = model
    if stop_reason is not None:
        message["stopReason"] = stop_reason
    return {
        "type": "message",
        "id": new_entry_id(),
        "parentId": parent_id,
        "timestamp": now_iso(),
        "turnId": turn_id,
        "message": message,
    }


def append_entry(path: Path, entry: dict[str, Any]) -> None:
    """Append one entry as one line with one ``write`` on an ``O_APPEND`` descriptor.

    No fsync: durability is not what the benchmark measures, and skipping it keeps the
    run light; it does not change who writes when.
    """
    data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def last_entry_id(path: Path) -> str | None:
    """The ``id`` of the file's last entry: the leaf a loaded session appends under."""
    with Path(path).open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    for line in reversed(tail.splitlines()):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            return None
        entry_id = value.get("id") if value.get("type") != "session" else None
        return entry_id if isinstance(entry_id, str) else None
    return None
