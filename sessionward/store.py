"""The session store: a directory with ``sessions.json`` and ``sessions/<id>.jsonl``.

``sessions.json`` maps session keys to session ids (and so to transcript files). It is
written atomically (temp file, fsync, rename) under an advisory lock on
``sessions.json.lock``, merging with what is on disk, so two runtimes on one store never
lose each other's entries.

A new key's session id is derived from the key (a UUID5), so the mapping can always be
recomputed: losing an index write loses only timestamps, never a conversation. That is
what lets the Directory batch index writes instead of rewriting a 100,000-entry file on
every first contact. Explicit bindings (two keys on one file) are written at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import uuid
from pathlib import Path

import attrs

from sessionward.errors import CorruptTranscriptError, PathEscapesStoreError
from sessionward.keys import validate_session_id, validate_session_key

SESSION_ID_NAMESPACE = uuid.UUID("6f0c1f4e-2d7a-4e7b-9a43-5e55d0a1d001")
"""UUID5 namespace for session ids derived from session keys."""


@attrs.frozen
class SessionRecord:
    """One row of ``sessions.json``."""

    session_key: str
    session_id: str
    """The transcript's id: ``sessions/<session_id>.jsonl``."""
    created_time: float
    """When the key was first seen (epoch seconds)."""
    updated_time: float
    """When a turn last ran on it, as far as the index knows (epoch seconds)."""


def derived_session_id(session_key: str) -> str:
    """The session id a new key gets: stable, so any process can recompute it."""
    return str(uuid.uuid5(SESSION_ID_NAMESPACE, session_key))


class SessionStore:
    """A store directory. Cheap to construct; every method is safe across processes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.sessions_dir = self.root / "sessions"
        self.index_path = self.root / "sessions.json"
        self.sessions_dir.mkdir(parents=True, exist_ok=True)

    # -- paths ---------------------------------------------------------------------------

    def transcript_path(self, session_id: str) -> Path:
        """The canonical real path of a session's transcript.

        Raises:
            PathEscapesStoreError: the id is unsafe, or a symlink leads out of ``sessions/``.
        """
        validate_session_id(session_id)
        path = Path(os.path.realpath(self.sessions_dir / f"{session_id}.jsonl"))
        if path.parent != Path(os.path.realpath(self.sessions_dir)):
            raise PathEscapesStoreError(f"transcript of {session_id!r} resolves outside the store")
        return path

    # -- index ---------------------------------------------------------------------------

    def load_index(self) -> dict[str, SessionRecord]:
        """Read ``sessions.json`` (empty when absent).

        Raises:
            CorruptTranscriptError: the index exists but is not a JSON object of records.
        """
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
            return {
                key: SessionRecord(
                    session_key=key,
                    session_id=validate_session_id(value["sessionId"]),
                    created_time=float(value.get("createdTime", 0.0)),
                    updated_time=float(value.get("updatedTime", 0.0)),
                )
                for key, value in data.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptTranscriptError(f"{self.index_path} is not a session index: {exc}") from exc

    def resolve(self, session_key: str, known: dict[str, SessionRecord], *, now: float) -> SessionRecord:
        """The record of ``session_key``: from ``known`` or a new one with a derived id.

        Does not write: the caller adds new records to ``known`` and calls ``save``.
        """
        validate_session_key(session_key)
        record = known.get(session_key)
        if record is None:
            record = SessionRecord(session_key, derived_session_id(session_key), now, now)
        return record

    def save(self, records: dict[str, SessionRecord]) -> None:
        """Merge ``records`` into ``sessions.json`` atomically (theirs win on conflicts)."""
        with open(self.root / "sessions.json.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                merged = self.load_index()
            except CorruptTranscriptError:
                # Keep the unreadable index for a person to look at, then start anew.
                os.replace(self.index_path, self.index_path.with_suffix(".json.corrupt"))
                merged = {}
            merged.update(records)
            payload = {
                key: {
                    "sessionId": r.session_id,
                    "sessionFile": f"sessions/{r.session_id}.jsonl",
                    "createdTime": r.created_time,
                    "updatedTime": r.updated_time,
                }
                for key, r in sorted(merged.items())
            }
            write_atomically(self.index_path, json.dumps(payload, indent=1).encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
