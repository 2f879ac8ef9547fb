"""The Directory's session index in memory, and its batched flush to ``sessions.json``.

The index maps each session key to its record (the transcript's session id). A key seen
for the first time gets a record derived from it (``store.resolve``); such new records are
*dirty* until written. They are written in batches, not one file write per new key: at
the latest ``index_flush_after`` seconds after the first (the caller's timer), and always
before an owner for the key may finish a turn (so a key's entry is on disk before its first
outcome, and never names a file that was not created). A binding (``bind``) is not
derivable from its key and is written at once.

No Thespian import and no clock reads (``now`` is passed in). It reads and writes through
the store, so it is tested on a store in a temporary directory, with no actor system.
"""

from __future__ import annotations

from sessionward.errors import BadInputError
from sessionward.storage.store import SessionRecord, SessionStore


class SessionIndex:
    """Key -> record, the reverse map, which transcripts an owner may create, and the dirty set."""

    def __init__(self, store: SessionStore, records: dict[str, SessionRecord] | None = None,
                 unusable: dict[str, BadInputError] | None = None) -> None:
        self._store = store
        self._records: dict[str, SessionRecord] = dict(records or {})
        self._unusable = dict(unusable or {})
        """Keys whose record on disk cannot be used (``SessionStore.unusable``): refused, never
        given a new record (which would overwrite the line a person may still mend)."""
        self._keys_by_id: dict[str, list[str]] = {}
        """session id -> every key routed to its file. A reverse map, not a scan of the
        index: with 100,000 sessions the scan cost ~20 ms of the Directory's time on every
        activation."""
        for key, record in self._records.items():
            self._keys_by_id.setdefault(record.session_id, []).append(key)
        self._dirty: dict[str, SessionRecord] = {}
        self._may_create: set[str] = set()
        """Session ids whose transcript an owner may create: keys new in this run (until
        their first activation) and ids an admin allowed (``allow_create``). Any other id is
        named by the index, so its file must already exist: see ``store.missing_transcript``."""
        self._flush_pending = False

    @classmethod
    def load(cls, store: SessionStore) -> SessionIndex:
        """The index as ``store`` has it on disk."""
        records = store.load_index()
        return cls(store, records, store.unusable)

    def __len__(self) -> int:
        return len(self._records)

    def get(self, session_key: str) -> SessionRecord | None:
        return self._records.get(session_key)

    def record(self, session_key: str, now: float) -> tuple[SessionRecord, bool]:
        """The record of ``session_key``, and whether it is new (dirty now: the caller sees
        that a flush is due, see ``flush_due``).

        Raises:
            InvalidSessionKeyError, PathEscapesStoreError: as ``store.resolve``.
            PathEscapesStoreError, CorruptTranscriptError: the key's record on disk cannot be
                used (``SessionStore.unusable``).
        """
        record = self._records.get(session_key)
        if record is not None:
            return record, False
        refused = self._unusable.get(session_key)
        if refused is not None:
            raise type(refused)(str(refused))
        record = self._store.resolve(session_key, self._records, now=now)
        self._records[session_key] = record
        self._keys_by_id.setdefault(record.session_id, []).append(session_key)
        self._dirty[session_key] = record
        self._may_create.add(record.session_id)
        return record, True

    def keys_of(self, session_id: str) -> list[str]:
        """Every key routed to ``session_id``'s file (a copy)."""
        return list(self._keys_by_id.get(session_id, ()))

    def may_create(self, session_id: str) -> bool:
        return session_id in self._may_create

    def allow_create(self, session_id: str) -> None:
        """Let the next owner of ``session_id`` create its missing transcript (an admin's word)."""
        self._may_create.add(session_id)

    def created(self, session_id: str) -> None:
        """An owner has the file now: from here on a missing file is a loss, not a start."""
        self._may_create.discard(session_id)

    def bind(self, session_key: str, session_id: str, now: float) -> SessionRecord:
        """Route ``session_key`` to ``session_id``'s file, and write the index at once (with
        anything dirty). Raises what ``store.save`` raises; nothing changes in memory then.
        An admin's binding replaces an unusable record of the key: it mends it."""
        record = SessionRecord(session_key, session_id, now, now)
        # The binding wins over a dirty record of the same key: it is the newer word.
        self._store.save({**self._dirty, session_key: record})
        self._dirty.clear()
        self._unusable.pop(session_key, None)
        existing = self._records.get(session_key)
        if existing is not None and session_key in self._keys_by_id.get(existing.session_id, []):
            self._keys_by_id[existing.session_id].remove(session_key)
        self._records[session_key] = record
        self._keys_by_id.setdefault(session_id, []).append(session_key)
        return record

    def is_dirty(self, keys: list[str]) -> bool:
        """True if any of ``keys`` has a record not written yet."""
        return any(key in self._dirty for key in keys)

    def flush_due(self) -> bool:
        """True when the caller must set a flush timer: records are dirty and none is set.
        (The caller then calls ``flush_timer_fired`` and ``flush`` when it fires.)"""
        if self._flush_pending or not self._dirty:
            return False
        self._flush_pending = True
        return True

    def flush_timer_fired(self) -> None:
        self._flush_pending = False

    def flush(self) -> None:
        """Write the dirty records (no-op when none are). On failure they stay dirty and the
        error is raised: the caller logs it and sets a timer to try again."""
        if self._dirty:
            self._store.save(self._dirty)
            self._dirty.clear()
