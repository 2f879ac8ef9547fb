"""The transcript format's records and constants: lines read, kept, set aside and migrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

CURRENT_VERSION = 3
"""The format version this module writes (pi's ``CURRENT_SESSION_VERSION``)."""

MISSING: Any = object()
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
