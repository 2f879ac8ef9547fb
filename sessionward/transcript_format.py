"""The transcript format: pi / openclaw session files, version 3. Pure but ``migrate_file``.

A transcript is JSON Lines. Line 1 is a header ``{"type":"session","version":3,"id",
"timestamp","cwd","parentSession"?}``. Every later line is one entry with ``type``, ``id``
(8 lowercase hex characters, unique in the file), ``parentId`` (``null`` for a root) and
``timestamp`` (ISO-8601 UTC, milliseconds). Entry types: ``message`` (roles ``user``,
``assistant``, ``toolResult``, ``bashExecution``, ``custom``), ``model_change``,
``thinking_level_change``, ``compaction``, ``branch_summary``, ``custom``,
``custom_message``, ``label`` and ``session_info``. Entries stay plain dicts: a type or a
field this module does not know is kept exactly as it was read, never re-shaped.

The rules mirror pi-mono ``packages/coding-agent/src/core/session-manager.ts`` (read at
commit 0507789f) and ``messages.ts`` (commit 288f0d28); each rule names the pi function it
follows. Where this module differs from pi, the difference is deliberate and is written
next to the rule: pi drops a line it cannot parse, and this module never loses a byte.

Layering: pure functions on bytes, dicts and records; ``migrate_file`` is the one function
that touches the file system. Nothing here reads the clock: a caller that needs a
timestamp passes ``now`` to ``iso_timestamp``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import re
import secrets
import uuid
from collections.abc import Container, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from sessionward import files
from sessionward.errors import CorruptTranscriptError, FencedError
from sessionward.js_json import stringify

CURRENT_VERSION = 3
"""The format version this module writes (pi's ``CURRENT_SESSION_VERSION``)."""

_MISSING: Any = object()
"""A field that is absent; plays the part of JavaScript's ``undefined`` when mirroring pi."""

# --------------------------------------------------------------------------- records


@attrs.frozen
class BadLine:
    """A line that could not be read as JSON objects. Kept whole, so nothing is lost."""

    line_no: int
    """1-based line number in the file."""
    raw: bytes
    """The line's exact bytes, without its ``\\n``."""
    error: str
    """Why it could not be read (not UTF-8, not JSON, not an object, ...)."""


@attrs.frozen
class ParsedTranscript:
    """Everything a transcript's bytes hold, sorted into header, entries and problems.

    Invariant: every line of the input is accounted for exactly once: it is the source of
    the header and/or entries (``header_line``, ``entry_lines``), a ``bad_lines`` entry, a
    ``blank_lines`` number, or (the last line only) ``torn_tail``.
    """

    header: dict[str, Any] | None
    """The first JSON object, when its ``type`` is ``"session"``; otherwise ``None``."""
    entries: tuple[dict[str, Any], ...]
    """Every other object, in file order (a later stray ``session`` object included)."""
    version: int
    """``header["version"]``, 1 when absent (pi's rule), 0 when it is not a whole number."""
    bad_lines: tuple[BadLine, ...] = ()
    """Lines that are not JSON objects (the last line excepted: see ``torn_tail``)."""
    joined_lines: tuple[int, ...] = ()
    """Lines that held several objects with no newline between them; all were recovered."""
    torn_tail: bytes | None = None
    """A last line with no final newline that does not parse: an interrupted append."""
    missing_final_newline: bool = False
    """The last line parsed but has no final newline (the next append must add one)."""
    header_line: int | None = None
    """The line the header came from."""
    entry_lines: tuple[int, ...] = ()
    """The line each entry came from (same length and order as ``entries``)."""
    blank_lines: tuple[int, ...] = ()
    """Lines holding only JSON whitespace (pi skips them too)."""
    line_count: int = 0
    """Lines in the input, counting an unterminated last line."""


@attrs.frozen
class SetAside:
    """An object recovered from a joined line that the migrated file leaves out (see
    ``migrate_to_v3``). Its line's exact bytes stay in the backup and go to the quarantine."""

    line_no: int
    """The joined line it came from (1-based)."""
    entry: dict[str, Any]
    """The object as read (v1: no id)."""
    reason: str
    """Why it cannot be kept, in one sentence."""


@attrs.frozen
class Migration:
    """The outcome of ``migrate_to_v3``."""

    parsed_v3: ParsedTranscript
    """The transcript in format 3 (the input itself when it already was)."""
    changed: bool
    """Whether anything was migrated (pi's ``migrateToCurrentVersion`` return value)."""
    notes: tuple[str, ...]
    """What was done, one line each, for logs and reports."""
    from_version: int
    """The version the input had."""
    set_aside: tuple[SetAside, ...] = ()
    """Recovered objects left out of ``parsed_v3`` because they are provably broken."""


@attrs.frozen
class MigrationReport:
    """What ``migrate_file`` did to one file."""

    path: Path
    """The transcript (its real path: a symlink is followed, not replaced)."""
    from_version: int
    """The version the file had."""
    changed: bool
    """The file was rewritten in format 3. A file already in format 3 is never written."""
    entries: int
    """Entries in the file after migration (the header not counted)."""
    joined_lines: tuple[int, ...]
    """Lines that held several objects; all of them were kept."""
    bad_lines: int
    """Unreadable lines (moved to ``quarantine`` when the file was rewritten)."""
    torn_tail_bytes: int
    """Bytes of a torn last line (moved to ``quarantine`` when the file was rewritten)."""
    backup: Path | None
    """The untouched original, when the file was rewritten."""
    quarantine: Path | None
    """Where bad lines and a torn tail were appended, when there were any to move."""
    notes: tuple[str, ...] = ()
    """``Migration.notes``."""


# --------------------------------------------------------------------------- parsing

_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_BLANK = re.compile(rb"[ \t\r]*")
_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number"}


def _reject_constant(name: str) -> Any:
    # JSON.parse rejects NaN and Infinity, and so does pi; Python would accept them.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # JSON.parse gives Infinity, which JSON.stringify writes as null
        raise ValueError(f"number {text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _objects_on_line(raw: bytes) -> list[dict[str, Any]]:
    """Decode every JSON object on one line, or raise ``ValueError``.

    A line is recovered only when it splits wholly into objects (JSON whitespace between
    them is allowed). Anything else fails the whole line, so a line is never half-kept.
    """
    text = raw.decode("utf-8")
    found: list[dict[str, Any]] = []
    pos = _JSON_SPACE.match(text, 0).end()
    while pos < len(text):
        obj, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(obj, dict):
            name = "boolean" if isinstance(obj, bool) else _JSON_NAMES.get(type(obj), "null")
            # bad data on a line, caught with the JSON errors: not a bad argument
            raise ValueError(f"a JSON {name} is not an entry (entries are objects)")
        found.append(obj)
        pos = _JSON_SPACE.match(text, pos).end()
    return found


def _why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8: {exc}"
    if isinstance(exc, RecursionError):
        return "not JSON: nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc}"
    return str(exc)


def _version_of(header: dict[str, Any] | None) -> int:
    # pi's migrateToCurrentVersion: ``header?.version ?? 1``.
    version = 1 if header is None else header.get("version", 1)
    if version is None:
        return 1
    if isinstance(version, bool) or not isinstance(version, int | float):
        return 0
    if isinstance(version, float) and not version.is_integer():
        return 0
    return int(version)


def parse_transcript(data: bytes) -> ParsedTranscript:
    """Read a transcript's bytes into header, entries and problems. Never raises.

    Lines are split on ``\\n`` only, and each is decoded as UTF-8 JSON. A line holding
    several objects joined with no newline (an append that lost its newline) gives all of
    them, and its number goes into ``joined_lines``. A line that cannot be read becomes a
    ``BadLine``, and the lines around it still load: pi's ``loadEntriesFromFile`` drops such
    lines silently, and this function keeps them so a caller can quarantine them. The last
    line, when it has no final newline, is an append that may have been interrupted: if it
    does not parse it is ``torn_tail``; if it does, it is kept and
    ``missing_final_newline`` is set. Blank lines are skipped, as pi skips them.

    The header is the first object read when its type is ``session`` (pi's loader, too,
    looks at the first object that parses).
    """
    lines = data.split(b"\n")
    tail = lines.pop()  # what follows the last newline: b"" when the data ends with one
    numbered = list(enumerate(lines, 1))
    if tail:
        numbered.append((len(lines) + 1, tail))
    header: dict[str, Any] | None = None
    header_line: int | None = None
    seen_first = False
    entries: list[dict[str, Any]] = []
    entry_lines: list[int] = []
    bad: list[BadLine] = []
    joined: list[int] = []
    blank: list[int] = []
    torn: bytes | None = None
    missing_newline = False
    for line_no, raw in numbered:
        is_tail = bool(tail) and line_no == len(numbered)
        if _BLANK.fullmatch(raw):
            blank.append(line_no)
            continue
        try:
            found = _objects_on_line(raw)
        except (ValueError, RecursionError) as exc:
            if is_tail:
                torn = raw
            else:
                bad.append(BadLine(line_no, raw, _why(exc)))
            continue
        if len(found) > 1:
            joined.append(line_no)
        missing_newline = is_tail
        for obj in found:
            if not seen_first:
                seen_first = True
                if obj.get("type") == "session":
                    header, header_line = obj, line_no
                    continue
            entries.append(obj)
            entry_lines.append(line_no)
    return ParsedTranscript(
        header=header,
        entries=tuple(entries),
        version=_version_of(header),
        bad_lines=tuple(bad),
        joined_lines=tuple(joined),
        torn_tail=torn,
        missing_final_newline=missing_newline,
        header_line=header_line,
        entry_lines=tuple(entry_lines),
        blank_lines=tuple(blank),
        line_count=len(numbered),
    )


# --------------------------------------------------------------------------- writing

def dumps_line(obj: dict[str, Any]) -> bytes:
    """Serialise one entry as pi does (``JSON.stringify``): one UTF-8 line ending in ``\\n``.

    Compact, non-ASCII text written as is, keys in their order, numbers laid out as
    JavaScript lays them out, and a lone surrogate written as a ``\\udXXX`` escape (as
    ``JSON.stringify`` does) because UTF-8 cannot hold it.

    Raises:
        ValueError: a NaN or infinite number, nesting too deep (or circular), or a raw
            newline in the result (JSON escapes newlines, so that would be a bug here).
        TypeError: a value that is not JSON (sets, bytes, non-string keys, ...).
    """
    text = stringify(obj)
    if "\n" in text or "\r" in text:
        raise ValueError("a serialised entry must not contain a raw line break")
    return text.encode("utf-8") + b"\n"


def dumps_transcript(header: dict[str, Any], entries: Iterable[dict[str, Any]]) -> bytes:
    """The whole file: the header line, then one line per entry (pi's ``_rewriteFile``)."""
    return dumps_line(header) + b"".join(dumps_line(entry) for entry in entries)


# --------------------------------------------------------------------------- ids and times


def new_entry_id(existing: Container[str], rng: random.Random | None = None) -> str:
    """A fresh entry id: 8 lowercase hex characters not in ``existing`` (pi's ``generateId``).

    Draws from ``rng`` when given (tests and migrations then repeat exactly), else from the
    OS. Like pi, it gives up after 100 collisions and returns a full UUID, which only a
    container holding a large share of all 2**32 ids can cause.
    """

    def bits(count: int) -> int:
        return rng.getrandbits(count) if rng is not None else secrets.randbits(count)

    for _ in range(100):
        candidate = f"{bits(32):08x}"
        if candidate not in existing:
            return candidate
    return str(uuid.UUID(int=bits(128), version=4))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso_timestamp(epoch_seconds: float) -> str:
    """``epoch_seconds`` as JavaScript's ``new Date(ms).toISOString()`` writes it.

    For example ``2026-11-25T12:00:00.000Z``: UTC, milliseconds, truncated toward zero
    as ``Date`` truncates. The float's shortest decimal form is used, so ``1.123`` gives
    ``.123`` and not ``.122``.

    Raises:
        ValueError: not finite, or outside years 1 to 9999.
    """
    try:
        seconds = float(epoch_seconds)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"{epoch_seconds!r} is not a time")
    ms = int(Decimal(repr(seconds)) * 1000)
    try:
        t = _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError(f"{epoch_seconds!r} is outside years 1 to 9999") from None
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def _epoch_ms(timestamp: Any) -> int | None:
    """``new Date(timestamp).getTime()`` for an ISO string; ``None`` where JS gives NaN.

    A time with no offset is read as UTC (JavaScript would read it as local time; UTC keeps
    this pure). Non-string timestamps give ``None``.
    """
    if not isinstance(timestamp, str):
        return None
    try:
        t = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)


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
        index = entry.get("firstKeptEntryIndex", _MISSING)
        if isinstance(index, bool) or not isinstance(index, int | float):
            continue  # pi: ``typeof comp.firstKeptEntryIndex === "number"``
        target = None
        if float(index).is_integer() and 0 <= index < len(file_entries):
            target = file_entries[int(index)]
        if target is not None and target.get("type") != "session":
            # pi assigns ``targetEntry.id`` even when the target comes later and has no id
            # yet; that is ``undefined``, which JSON.stringify leaves out.
            target_id = target.get("id", _MISSING)
            if target_id is _MISSING:
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
        if is_message and message.get("role") == "hookMessage":
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
        index = entry.get("firstKeptEntryIndex", _MISSING)
        own = i + 1  # the header is index 0 of pi's v1 entry list
        if isinstance(index, int | float) and not isinstance(index, bool) and index >= own:
            where = "the compaction itself" if index == own else "after the compaction"
            found[i] = (
                f"firstKeptEntryIndex {index} is {where}; pi's compaction only keeps entries "
                "written before it, so the entries it kept were lost with this line's newline"
            )
    return found


# --------------------------------------------------------------------------- model context


def _js_truthy(value: Any) -> bool:
    if value is _MISSING or value is None or value is False or value == "":
        return False
    return not (isinstance(value, int | float) and value == 0)


def _same_id(a: Any, b: Any) -> bool:
    # JavaScript ``===`` on ids: equal strings, or both undefined, or both null.
    return a is b or (isinstance(a, str) and isinstance(b, str) and a == b)


def _defined(**fields: Any) -> dict[str, Any]:
    # An object literal whose undefined fields JSON.stringify would leave out.
    return {key: value for key, value in fields.items() if value is not _MISSING}


def _as_message(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The message an entry puts into the context, if any (``appendMessage`` in pi's
    ``buildSessionContext``, with ``createCustomMessage`` and ``createBranchSummaryMessage``).
    """
    kind = entry.get("type")
    if kind == "message":
        message = entry.get("message")
        # pi pushes whatever is there; a message entry with no object would crash pi.
        return message if isinstance(message, dict) else None
    if kind == "custom_message":
        return _defined(
            role="custom",
            customType=entry.get("customType", _MISSING),
            content=entry.get("content", _MISSING),
            display=entry.get("display", _MISSING),
            details=entry.get("details", _MISSING),
            timestamp=_epoch_ms(entry.get("timestamp")),
        )
    if kind == "branch_summary" and _js_truthy(entry.get("summary", _MISSING)):
        return _defined(
            role="branchSummary",
            summary=entry["summary"],
            fromId=entry.get("fromId", _MISSING),
            timestamp=_epoch_ms(entry.get("timestamp")),
        )
    return None


def _path_to_leaf(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Root-first path from the last entry up its ``parentId`` links (pi's tree walk).

    The leaf is the last entry in file order, as pi's ``_buildIndex`` leaves it. Ids map to
    the last entry holding them, as pi's ``byId`` map does. Unlike pi, which loops forever
    on a parent cycle, the walk stops at an entry it has already visited.
    """
    body = [entry for entry in entries if entry.get("type") != "session"]  # pi's getEntries
    if not body:
        return []
    by_id = {entry["id"]: entry for entry in body if isinstance(entry.get("id"), str)}
    path: list[dict[str, Any]] = []
    visited: set[int] = set()
    current: dict[str, Any] | None = body[-1]
    while current is not None and id(current) not in visited:
        visited.add(id(current))
        path.append(current)
        parent_id = current.get("parentId")
        current = by_id.get(parent_id) if isinstance(parent_id, str) and parent_id else None
    path.reverse()
    return path


def build_context(entries: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The messages a model sees, built as pi's ``buildSessionContext`` builds them.

    Walk from the leaf (the last entry) to the root. If a compaction lies on that path,
    only the last one counts: its summary comes first, as a ``compactionSummary`` message
    (``createCompactionSummaryMessage``); then the entries before it from the one whose id
    is ``firstKeptEntryId`` on; then every entry after it. Without a compaction, every
    entry on the path. Entries that become messages: ``message`` (its ``message`` as is),
    ``custom_message`` (role ``custom``) and ``branch_summary`` with a non-empty summary
    (role ``branchSummary``). Timestamps of built messages are epoch milliseconds.

    ``entries`` are format-3 entries in file order (a header among them is ignored).
    Returned ``message`` dicts are the entries' own objects: do not mutate them.
    """
    path = _path_to_leaf(entries)
    compaction = None
    for entry in path:
        if entry.get("type") == "compaction":
            compaction = entry
    if compaction is None:
        return tuple(m for m in map(_as_message, path) if m is not None)
    messages = [
        _defined(
            role="compactionSummary",
            summary=compaction.get("summary", _MISSING),
            tokensBefore=compaction.get("tokensBefore", _MISSING),
            timestamp=_epoch_ms(compaction.get("timestamp")),
        )
    ]
    compaction_id = compaction.get("id", _MISSING)
    compaction_idx = next(
        i
        for i, e in enumerate(path)
        if e.get("type") == "compaction" and _same_id(e.get("id", _MISSING), compaction_id)
    )
    first_kept = compaction.get("firstKeptEntryId", _MISSING)
    kept = False
    for entry in path[:compaction_idx]:
        kept = kept or _same_id(entry.get("id", _MISSING), first_kept)
        if kept and (message := _as_message(entry)) is not None:
            messages.append(message)
    messages.extend(m for m in map(_as_message, path[compaction_idx + 1 :]) if m is not None)
    return tuple(messages)


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
