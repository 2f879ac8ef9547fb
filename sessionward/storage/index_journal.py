"""The session index's journal: records appended beside ``sessions.json``. Pure: no files.

Rewriting ``sessions.json`` for one new key costs as much as the whole index (1.03 s over
100,000 sessions, measured): a new session's activation waited for it. So once the index
is big, a new or changed entry is appended to ``sessions.json.journal`` instead (one line,
fsynced), and the journal is folded back into ``sessions.json`` ("compaction") now and
then and on a clean shutdown. The index is ``sessions.json`` with the journal's records
applied over it, in order: a later record of a key replaces an earlier one.

A record is one JSON line: the session key and its ``sessions.json`` entry, flattened::

    {"key": "agent:main:x", "sessionId": "...", "sessionFile": "sessions/....jsonl",
     "createdTime": 1.0, "updatedTime": 1.0}

A line is written whole, in one ``write``, and the write is fsynced before ``save``
returns. A last line without its newline was cut short by a crash before that fsync
returned, so no caller was told it was saved: it is skipped, as a transcript's torn tail
is set aside. A line that does not parse elsewhere is skipped and counted (the next
append first ends a cut line, so it cannot swallow the next record).

``plan_save`` decides, from sizes alone (two ``stat`` calls), whether a save rewrites
``sessions.json`` or appends to the journal: a small index is rewritten every time, as
before the journal existed, so a small store's ``sessions.json`` stays complete for
anything that reads it alone.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

import attrs

JOURNAL_SUFFIX = ".journal"
"""The journal's name is the index's name plus this: ``sessions.json.journal``."""


@attrs.frozen
class JournalReplay:
    """What a journal holds, read back."""

    entries: dict[str, dict[str, Any]]
    """Session key -> its latest ``sessions.json`` entry, in first-seen key order."""
    records: int
    """Records read (a key recorded twice counts twice)."""
    bad_lines: int = 0
    """Complete lines that are not records: skipped."""
    torn_tail: bool = False
    """The last line had no newline (a crash cut the append): skipped."""


def encode_record(key: str, entry: Mapping[str, Any]) -> bytes:
    """One journal line (ends with a newline) for ``key``'s ``sessions.json`` entry."""
    if "key" in entry:
        raise ValueError("an index entry has no field named 'key'")
    return (json.dumps({"key": key, **entry}, ensure_ascii=False) + "\n").encode("utf-8")


def encode_records(entries: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Lines for several entries, in one buffer (written with one ``write``)."""
    return b"".join(encode_record(key, entry) for key, entry in entries.items())


def parse_journal(data: bytes) -> JournalReplay:
    """Read a journal's bytes: each key's latest entry; bad lines and a torn tail skipped."""
    entries: dict[str, dict[str, Any]] = {}
    lines = data.split(b"\n")
    torn = lines[-1] != b""  # the bytes after the last newline: a line cut short
    records = bad = 0
    for line in lines[:-1]:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        key = rec.get("key") if isinstance(rec, dict) else None
        if not isinstance(key, str) or not isinstance(rec.get("sessionId"), str):
            bad += 1
            continue
        del rec["key"]
        entries[key] = rec
        records += 1
    return JournalReplay(entries, records, bad, torn)


def apply(document: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``sessions.json``'s document with the journal's entries applied (a new dict)."""
    merged = dict(document)
    merged.update(entries)
    return merged


@attrs.frozen
class CompactionPolicy:
    """When a save rewrites ``sessions.json`` rather than append to the journal. Sizes in bytes."""

    rewrite_below: int = 256 * 1024
    """An index (plus journal) smaller than this is rewritten on every save: about 1,700
    sessions, a few ms to rewrite. Above it, saves append."""
    journal_share: float = 0.25
    """Compact when the journal reaches this share of ``sessions.json``'s size: the
    rewrite's cost is then spread over at least that many bytes of appended records,
    so a save costs O(1) on average however big the index is."""


class SaveAction(enum.StrEnum):
    REWRITE = "rewrite"
    """Merge everything into ``sessions.json`` and remove the journal."""
    APPEND = "append"
    """Append the records to the journal only."""
    APPEND_THEN_COMPACT = "append_then_compact"
    """Append (durable at once), then fold the journal into ``sessions.json``."""


def plan_save(index_bytes: int, journal_bytes: int, adding_bytes: int,
              policy: CompactionPolicy = CompactionPolicy()) -> SaveAction:
    """What a save of ``adding_bytes`` of records does, given the files' sizes now."""
    if index_bytes + journal_bytes + adding_bytes < policy.rewrite_below:
        return SaveAction.REWRITE
    if journal_bytes + adding_bytes >= policy.journal_share * index_bytes:
        return SaveAction.APPEND_THEN_COMPACT
    return SaveAction.APPEND

