"""Whole-file writes that survive a crash, and the quarantine beside a transcript.

Every file sessionward replaces (the session index, an inbox after compaction, a migrated
transcript, cron state, the daemon and claim records) goes through ``write_atomically``:
a reader or a crash sees the old bytes or the new ones, never half of them, and once it
returns the new bytes and the rename are on disk. Lines set aside from a transcript go
through ``append_quarantine``, in one record shape whoever finds them.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sessionward.storage.js_json import stringify

QUARANTINE_SUFFIX = ".quarantine.jsonl"


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so that a rename or a new name in it is on disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync
    the directory. ``mode`` sets the new file's permissions (default: ``mkstemp``'s 0o600).

    The temp file is in the same directory because a rename is atomic only within one file
    system; the directory is fsynced because the rename is an entry in it, and without that
    a crash can bring back the old file after this returned.

    Raises:
        OSError: writing or renaming failed; ``path`` is unchanged and no temp file is left.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (failing with ``FileExistsError`` if it exists) holding ``data``, fsynced.

    The caller fsyncs the directory (once, after all its new files)."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fchmod(f.fileno(), mode)
        os.fsync(f.fileno())


def keep_backup(path: Path, data: bytes, version: int, mode: int) -> Path:
    """Write ``data`` beside ``path`` as ``<name>.v<N>.bak``, never over an old one
    (``.bak.1``, ``.bak.2``, ... when that exists). Returns the backup's path."""
    n = 0
    while True:
        suffix = f".v{version}.bak" + (f".{n}" if n else "")
        backup = path.with_name(path.name + suffix)
        try:
            write_new(backup, data, mode)
            return backup
        except FileExistsError:
            n += 1


def quarantine_record(line_no: int, raw: bytes, kind: str, error: str) -> dict[str, object]:
    """One quarantined line: ``lineNo`` (1-based, in the file it came from), ``kind``
    (``bad_line``, ``unusable_compaction``, ``torn_tail``), ``error``, ``raw`` (readable text;
    bytes that are not UTF-8 come out as ``\\udcXX`` escapes) and ``rawBase64`` (the exact bytes)."""
    return {
        "lineNo": line_no,
        "kind": kind,
        "error": error,
        "raw": raw.decode("utf-8", "surrogateescape"),
        "rawBase64": base64.b64encode(raw).decode("ascii"),
    }


def quarantine_path(path: Path) -> Path:
    """Where the lines set aside from ``path`` go: ``<name>.quarantine.jsonl`` beside it."""
    return path.with_name(path.name + QUARANTINE_SUFFIX)


def append_quarantine(path: Path, records: Iterable[dict[str, object]]) -> Path:
    """Append ``records`` (``quarantine_record``) to ``<name>.quarantine.jsonl``, fsynced.

    The file is appended to, never rewritten. A record already in it (same ``lineNo``,
    ``kind`` and ``rawBase64``) is not written again: a transcript keeps its bad lines, so
    every activation finds them anew. Returns the quarantine's path, written to or not.
    """
    qpath = quarantine_path(path)
    try:
        known = _known_records(qpath.read_bytes())
    except FileNotFoundError:
        known = set()
    lines = [stringify(r).encode("utf-8") + b"\n" for r in records
             if (r["lineNo"], r["kind"], r["rawBase64"]) not in known]
    if lines:
        append_lines(qpath, b"".join(lines))
    return qpath


def append_lines(path: Path, data: bytes, *, mode: int = 0o600) -> int:
    """Append ``data`` (whole lines) to ``path`` in one write, and fsync it. A last line that
    an earlier write left cut short is ended first (its readers skip it). Returns the file's
    size before the append (0: the file is new, and its name wants a directory fsync)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, mode)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # an earlier write was cut short: end its line first
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return size


def _known_records(data: bytes) -> set[tuple[object, object, object]]:
    known = set()
    for line in data.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a record cut short: its line is ended, not trusted
        if isinstance(rec, dict):
            known.add((rec.get("lineNo"), rec.get("kind"), rec.get("rawBase64")))
    return known
