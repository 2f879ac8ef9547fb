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

Row = tuple[str, float, float]
"""A record as the index keeps it: ``(session_id, created_time, updated_time)``."""


class SessionIndex:
    """Key -> record, the reverse map, which transcripts an owner may create, and the dirty set.

    Records are kept as plain tuples of strings and floats (``Row``), and the reverse map's
    keys as tuples, not as ``SessionRecord`` objects and lists: the garbage collector stops
    tracking a tuple of atoms (and a dict of them) after one pass, where every slotted
    record and every list stays tracked. With 100,000 sessions that was 230,000 objects for
    each full collection of the Directory to walk: 40-47 ms measured, a pause in the middle
    of whatever activation came next; now about 30,000 and 10-14 ms. ``get`` and ``record``
    build the ``SessionRecord`` asked for.
    """

    def __init__(self, store: SessionStore, records: dict[str, SessionRecord] | None = None,
                 unusable: dict[str, BadInputError] | None = None) -> None:
        self._store = store
        self._rows: dict[str, Row] = {
            key: (r.session_id, r.created_time, r.updated_time) for key, r in (records or {}).items()}
        self._unusable = dict(unusable or {})
        """Keys whose record on disk cannot be used (``SessionStore.unusable``): refused, never
        given a new record (which would overwrite the line a person may still mend)."""
        by_id: dict[str, list[str]] = {}
        for key, row in self._rows.items():
            by_id.setdefault(row[0], []).append(key)
        self._keys_by_id: dict[str, tuple[str, ...]] = {sid: tuple(keys) for sid, keys in by_id.items()}
        """session id -> every key routed to its file. A reverse map, not a scan of the
        index: with 100,000 sessions the scan cost ~20 ms of the Directory's time on every
        activation."""
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
        return len(self._rows)

    def get(self, session_key: str) -> SessionRecord | None:
        row = self._rows.get(session_key)
        return None if row is None else SessionRecord(session_key, *row)

    def record(self, session_key: str, now: float) -> tuple[SessionRecord, bool]:
        """The record of ``session_key``, and whether it is new (dirty now: the caller sees
        that a flush is due, see ``flush_due``).

        Raises:
            InvalidSessionKeyError, PathEscapesStoreError: as ``store.resolve``.
            PathEscapesStoreError, CorruptTranscriptError: the key's record on disk cannot be
                used (``SessionStore.unusable``).
        """
        known = self.get(session_key)
        if known is not None:
            return known, False
        refused = self._unusable.get(session_key)
        if refused is not None:
            raise type(refused)(str(refused))
        record = self._store.resolve(session_key, {}, now=now)
        self._put(record)
        self._dirty[session_key] = record
        self._may_create.add(record.session_id)
        return record, True

    def _put(self, record: SessionRecord) -> None:
        """Route ``record``'s key to its file (moving it off the file it was routed to)."""
        key = record.session_key
        old = self._rows.get(key)
        if old is not None and key in self._keys_by_id.get(old[0], ()):
            rest = tuple(k for k in self._keys_by_id[old[0]] if k != key)
            if rest:
                self._keys_by_id[old[0]] = rest
            else:
                del self._keys_by_id[old[0]]
        self._rows[key] = (record.session_id, record.created_time, record.updated_time)
        self._keys_by_id[record.session_id] = (*self._keys_by_id.get(record.session_id, ()), key)

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
        self._put(record)
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
