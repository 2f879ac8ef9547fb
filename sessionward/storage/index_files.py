"""The session index on disk: ``sessions.json``, its journal, and the lock they share.

The record format, replay and compaction policy are pure (``index_journal``); this module
does the file work for ``SessionStore``: reading the index with its journal applied,
appending to the journal, and compacting. Everything here runs under the index lock, a
``flock`` on the store's ``sessions/`` directory (no lock file is left behind): writers
take it exclusive, readers shared, so a reader never sees a compaction half done (the
new ``sessions.json`` in place and the journal not yet removed is fine; the journal
removed and the old ``sessions.json`` read is what the lock prevents).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sessionward.errors import CorruptTranscriptError
from sessionward.storage.files import append_lines, fsync_dir, write_atomically
from sessionward.storage.index_journal import JOURNAL_SUFFIX, apply, parse_journal

log = logging.getLogger("sessionward.store")


@contextlib.contextmanager
def flock_index(sessions_dir: Path, *, shared: bool) -> Iterator[None]:
    """Hold the index lock. Not re-entrant: a second flock from this process on another
    descriptor waits for the first, so code under the lock never calls ``load_index``."""
    lock = os.open(sessions_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # closing the descriptor releases the flock


def read_document(index_path: Path, journal_path: Path) -> dict[str, Any]:
    """``sessions.json``'s object (empty when absent) with the journal's records applied.

    Raises:
        CorruptTranscriptError: ``sessions.json`` is not a JSON object.
    """
    try:
        raw = index_path.read_bytes()
    except FileNotFoundError:
        document: dict[str, Any] = {}
    else:
        try:
            document = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise CorruptTranscriptError(f"{index_path} is not a session index: {exc}") from exc
        if not isinstance(document, dict):
            raise CorruptTranscriptError(f"{index_path} is not a session index: not a JSON object")
    try:
        replay = parse_journal(journal_path.read_bytes())
    except FileNotFoundError:
        return document
    if replay.bad_lines:
        log.warning("%s: %d lines that are not index records were skipped", journal_path, replay.bad_lines)
    return apply(document, replay.entries)


def append_journal(journal_path: Path, lines: bytes) -> None:
    """Append ``lines`` in one write and fsync them (a new journal's name too)."""
    if append_lines(journal_path, lines, mode=0o644) == 0:
        fsync_dir(journal_path.parent)


def compact(index_path: Path, journal_path: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Write index + journal + ``entries`` as ``sessions.json``, then remove the journal.

    A crash between the two leaves a journal whose records are already in ``sessions.json``:
    applying them again changes nothing. An unreadable ``sessions.json`` is kept aside as
    ``sessions.json.corrupt`` for a person to look at, and the index starts anew from the
    journal's records.
    """
    try:
        document = read_document(index_path, journal_path)
    except CorruptTranscriptError:
        os.replace(index_path, index_path.with_suffix(".json.corrupt"))
        document = read_document(index_path, journal_path)
    merged = apply(document, entries)
    payload = {key: merged[key] for key in sorted(merged)}
    write_atomically(index_path, json.dumps(payload, indent=1).encode("utf-8"))
    if journal_path.exists():
        journal_path.unlink()
        fsync_dir(journal_path.parent)


def index_document(root: str | os.PathLike[str]) -> dict[str, Any]:
    """A sessionward store's index as one ``sessions.json``-shaped object, journal applied.

    For readers of the raw entries (``doctor``). Creates nothing. Raises
    ``CorruptTranscriptError`` as ``SessionStore.load_index`` does.
    """
    index = Path(root) / "sessions.json"
    journal = index.with_name(index.name + JOURNAL_SUFFIX)
    sessions = Path(root) / "sessions"
    if not sessions.is_dir():
        return read_document(index, journal)
    with flock_index(sessions, shared=True):
        return read_document(index, journal)


def size(path: Path) -> int:
    """A file's size in bytes; 0 when it is absent."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
