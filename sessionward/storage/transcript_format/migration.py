"""Migrating a transcript to the current version: pure ``migrate_to_v3`` and ``migrate_file``,
the one function of the package that touches the file system (a backup, the quarantine and
an atomic replace, all through ``sessionward.storage.files``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import attrs

from sessionward.errors import CorruptTranscriptError, FencedError
from sessionward.storage import files
from sessionward.storage.transcript_format.format import dumps_transcript, new_entry_id, parse_transcript
from sessionward.storage.transcript_format.records import (
    CURRENT_VERSION,
    MISSING,
    Migration,
    MigrationReport,
    ParsedTranscript,
    SetAside,
)

# --------------------------------------------------------------------------- migration


def _v1_to_v2(file_entries: list[dict[str, Any]], rng: random.Random | None) -> list[str]:
    """pi's ``migrateV1ToV2``: ids, a parent chain, and ``firstKeptEntryIndex`` to an id.

    ``file_entries`` is the header and then every entry, as pi's ``FileEntry[]`` is, so a
    v1 ``firstKeptEntryIndex`` (an index into that array, header included) finds the same
    entry. Unlike pi, recovered objects from a joined line are in the array: they were
    entries when the index was taken; pi drops the line, which shifts later indexes.
    Unlike pi, the ids already drawn are checked for collisions (pi passes an empty set).
    """
    notes: list[str] = []
    ids: set[str] = set()
    prev_id: str | None = None
    for entry in file_entries:
        if entry.get("type") == "session":
            entry["version"] = 2
            continue
        entry["id"] = new_entry_id(ids, rng)
        ids.add(entry["id"])
        entry["parentId"] = prev_id
        prev_id = entry["id"]
        if entry.get("type") != "compaction":
            continue
        index = entry.get("firstKeptEntryIndex", MISSING)
        if isinstance(index, bool) or not isinstance(index, int | float):
            continue  # pi: ``typeof comp.firstKeptEntryIndex === "number"``
        target = None
        if float(index).is_integer() and 0 <= index < len(file_entries):
            target = file_entries[int(index)]
        if target is not None and target.get("type") != "session":
            # pi assigns ``targetEntry.id`` even when the target comes later and has no id
            # yet; that is ``undefined``, which JSON.stringify leaves out.
            target_id = target.get("id", MISSING)
            if target_id is MISSING:
                entry.pop("firstKeptEntryId", None)
                notes.append(
                    f"compaction {entry['id']}: firstKeptEntryIndex {index} is after the "
                    "compaction; dropped, as pi drops it"
                )
            else:
                entry["firstKeptEntryId"] = target_id
                itself = " (the compaction itself: nothing before it is kept)"
                notes.append(
                    f"compaction {entry['id']}: firstKeptEntryIndex {index} -> "
                    f"firstKeptEntryId {target_id}{itself if target is entry else ''}"
                )
        else:
            notes.append(
                f"compaction {entry['id']}: firstKeptEntryIndex {index} points at no entry; dropped"
            )
        del entry["firstKeptEntryIndex"]
    notes.insert(0, f"v1 -> v2: gave ids and a parent chain to {len(ids)} entries")
    return notes


def _v2_to_v3(file_entries: list[dict[str, Any]]) -> list[str]:
    """pi's ``migrateV2ToV3``: a message with role ``hookMessage`` gets role ``custom``.

    Nothing else changes: pi renames the role and leaves the message's other fields.
    """
    renamed = 0
    for entry in file_entries:
        if entry.get("type") == "session":
            entry["version"] = 3
            continue
        message = entry.get("message")
        is_message = entry.get("type") == "message" and isinstance(message, dict)
        if is_message and isinstance(message, dict) and message.get("role") == "hookMessage":
            entry["message"] = {**message, "role": "custom"}  # same key order
            renamed += 1
    renamed_note = f"; renamed role hookMessage to custom in {renamed} messages" if renamed else ""
    return [f"v2 -> v3: header version 3{renamed_note}"]


def migrate_to_v3(parsed: ParsedTranscript, rng: random.Random | None = None) -> Migration:
    """Bring a parsed transcript to format 3 (pi's ``migrateToCurrentVersion``).

    v1 -> v2 (``_v1_to_v2``) and then v2 -> v3 (``_v2_to_v3``); the header gets
    ``version: 3``. A file at version 3 or later is returned as it is, unchanged, as pi
    leaves it. The input is not mutated: changed entries are copies. ``bad_lines`` and
    ``torn_tail`` are carried over for the caller to quarantine.

    Raises:
        CorruptTranscriptError: there is no session header, its ``id`` is not a string
            (pi's ``loadEntriesFromFile`` rejects such a file), or its version is not a
            whole number.
    """
    header = parsed.header
    if header is None:
        raise CorruptTranscriptError('the first JSON object is not a {"type":"session"} header')
    if not isinstance(header.get("id"), str):
        raise CorruptTranscriptError("the session header has no string id")
    if parsed.version < 1:
        raise CorruptTranscriptError(f"header version {header.get('version')!r} is not a version")
    if parsed.version >= CURRENT_VERSION:
        return Migration(parsed, changed=False, notes=(), from_version=parsed.version)
    file_entries = [dict(header), *(dict(entry) for entry in parsed.entries)]
    notes: list[str] = []
    unusable = _unusable_recovered_compactions(parsed) if parsed.version < 2 else {}
    if parsed.joined_lines:
        notes.append(
            f"lines {list(parsed.joined_lines)} each held several entries; "
            + ("all were kept" if not unusable else f"all but {len(unusable)} were kept")
            + " (pi drops such a line)"
        )
    if parsed.version < 2:
        notes += _v1_to_v2(file_entries, rng)
    notes += _v2_to_v3(file_entries)
    set_aside: list[SetAside] = []
    if unusable:
        # Indexes were resolved with every object in place (``_v1_to_v2``); only now is a
        # broken one taken out, and the chain closed over it (v1 chains are linear).
        kept_entries: list[dict[str, Any]] = []
        for i, entry in enumerate(file_entries[1:]):
            if i in unusable:
                set_aside.append(SetAside(parsed.entry_lines[i], parsed.entries[i], unusable[i]))
                notes.append(f"line {parsed.entry_lines[i]}: a recovered compaction was left out: {unusable[i]}")
                continue
            if kept_entries and entry.get("parentId") is not None:
                entry["parentId"] = kept_entries[-1]["id"]
            kept_entries.append(entry)
        file_entries[1:] = kept_entries
    migrated = attrs.evolve(
        parsed,
        header=file_entries[0],
        entries=tuple(file_entries[1:]),
        version=CURRENT_VERSION,
        entry_lines=tuple(n for i, n in enumerate(parsed.entry_lines) if i not in unusable),
    )
    return Migration(migrated, changed=True, notes=tuple(notes), from_version=parsed.version,
                     set_aside=tuple(set_aside))


def _unusable_recovered_compactions(parsed: ParsedTranscript) -> dict[int, str]:
    """Compactions recovered from a joined line whose ``firstKeptEntryIndex`` is not before them.

    Index into ``parsed.entries`` -> the reason. pi's v1 ``findCutPoint`` only ever returns
    the index of an entry that was in its entry list before the compaction was appended, so
    an index at or after the compaction's own place in the file proves that the entries it
    kept were never written: the same lost write that joined the line. Kept, such a
    compaction would replace everything a reader sees with its summary alone (pi, which
    drops the joined line, never sees it). Seen in ``pi-mono__compact.jsonl`` line 1013.
    """
    joined = set(parsed.joined_lines)
    found: dict[int, str] = {}
    for i, entry in enumerate(parsed.entries):
        if parsed.entry_lines[i] not in joined or entry.get("type") != "compaction":
            continue
        index = entry.get("firstKeptEntryIndex", MISSING)
        own = i + 1  # the header is index 0 of pi's v1 entry list
        if isinstance(index, int | float) and not isinstance(index, bool) and index >= own:
            where = "the compaction itself" if index == own else "after the compaction"
            found[i] = (
                f"firstKeptEntryIndex {index} is {where}; pi's compaction only keeps entries "
                "written before it, so the entries it kept were lost with this line's newline"
            )
    return found


# --------------------------------------------------------------------------- the file


def _same_file_state(a: os.stat_result, b: os.stat_result) -> bool:
    fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
    return all(getattr(a, name) == getattr(b, name) for name in fields)


def migrate_file(path: Path, rng: random.Random | None = None, *, sidecar_dir: Path | None = None) -> MigrationReport:
    """Migrate a transcript file to format 3 in place, keeping the original.

    A file already at format 3 is only read, never written (its owner repairs it). An
    older file is rewritten in this order, so that a crash at any point loses nothing:
    bad lines and a torn last line are appended to ``<name>.quarantine.jsonl`` (one JSON
    object each, with the exact bytes in ``rawBase64``); the original bytes are written to
    ``<name>.v<N>.bak`` (``.bak.1``, ``.bak.2``, ... when that exists); the migrated file
    is written to a temp file in the same directory, fsynced, and renamed over the
    original; then the directory is fsynced. A symlink is followed: the real file is
    migrated and the link is kept. The quarantine and the backup go to ``sidecar_dir``
    (default: beside the real file).

    Raises:
        CorruptTranscriptError: the file has no usable session header.
        FencedError: the file changed while it was being migrated; it was not replaced.
        OSError: reading or writing failed.
    """
    real = Path(os.path.realpath(path))
    with open(real, "rb") as f:
        before = os.fstat(f.fileno())
        data = f.read()
    parsed = parse_transcript(data)
    migration = migrate_to_v3(parsed, rng)
    result = migration.parsed_v3
    torn_bytes = len(parsed.torn_tail or b"")
    report = MigrationReport(
        path=real,
        from_version=parsed.version,
        changed=False,
        entries=len(result.entries),
        joined_lines=parsed.joined_lines,
        bad_lines=len(parsed.bad_lines),
        torn_tail_bytes=torn_bytes,
        backup=None,
        quarantine=None,
        notes=migration.notes,
    )
    if not migration.changed:
        return report
    assert result.header is not None  # migrate_to_v3 refuses a file without one
    body = dumps_transcript(result.header, result.entries)
    records = [files.quarantine_record(b.line_no, b.raw, "bad_line", b.error) for b in parsed.bad_lines]
    lines = data.split(b"\n") if migration.set_aside else []
    records += [
        files.quarantine_record(a.line_no, lines[a.line_no - 1], "unusable_compaction", a.reason)
        for a in migration.set_aside
    ]
    if parsed.torn_tail is not None:
        records.append(
            files.quarantine_record(parsed.line_count, parsed.torn_tail, "torn_tail", "torn last line")
        )
    side = (sidecar_dir or real.parent) / real.name  # side files are named after the transcript
    quarantine = files.append_quarantine(side, records) if records else None
    mode = before.st_mode & 0o7777
    backup = files.keep_backup(side, data, parsed.version, mode)
    files.fsync_dir(side.parent)
    if not _same_file_state(before, os.stat(real)):
        raise FencedError(f"{real} changed while it was being migrated; it was left as it is")
    files.write_atomically(real, body, mode=mode)  # fsyncs real.parent too
    return attrs.evolve(report, changed=True, backup=backup, quarantine=quarantine)
