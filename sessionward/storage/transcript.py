"""The transcript file as its owner holds it: lock, repair, fence, append.

Only a SessionOwner opens a ``TranscriptFile``. It holds an exclusive ``flock`` on the
file for as long as it is open, so a second runtime on the same store cannot own it. Every
append is whole lines in one ``write`` on an ``O_APPEND`` descriptor, after a fingerprint
check: if the file changed since our own last write (an outside writer), ``append`` raises
``FencedError`` and writes nothing, so the outside bytes are never overwritten.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from sessionward.errors import (
    CorruptTranscriptError,
    FencedError,
    SessionOwnedElsewhereError,
    TranscriptMissingError,
)
from sessionward.storage import files
from sessionward.storage.transcript_format import dumps_line, migrate_file, parse_transcript


class Durability(enum.StrEnum):
    """When appends are fsynced."""

    ENTRY = "entry"
    """After every append: an entry is on disk when ``append`` returns."""
    TURN = "turn"
    """At the end of every turn (and before a turn is acknowledged, for the inbox)."""
    NEVER = "never"
    """Left to the OS: fastest; a machine crash can lose the last entries."""


@attrs.frozen
class Fingerprint:
    """What the owner remembers of the file after its own last write."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Fingerprint:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@attrs.frozen
class OpenReport:
    """What opening the transcript found and repaired."""

    created: bool
    """The file did not exist and was created with a header."""
    torn_bytes: int = 0
    """Bytes of a torn last line moved to ``torn_sidecar``."""
    torn_sidecar: str | None = None
    bad_lines: int = 0
    """Lines that do not parse (kept in the file, reported in ``quarantine``)."""
    quarantine: str | None = None
    migrated_from: int | None = None
    """The format version the file was migrated from, if it was."""
    backup: str | None = None


class TranscriptFile:
    """An open, locked transcript. Not thread-safe: its owner is its only user."""

    def __init__(self, path: Path, fd: int, entries: list[dict[str, Any]], durability: Durability):
        self.path = path
        self._fd = fd
        self.durability = durability
        self.entries = entries
        """Every entry in file order (the header excluded). Appends extend it."""
        self.ids: set[str] = {e["id"] for e in entries if isinstance(e.get("id"), str)}
        self.leaf_id: str | None = next(
            (e["id"] for e in reversed(entries) if isinstance(e.get("id"), str)), None
        )
        self._fingerprint = Fingerprint.of(os.stat(path))
        self._dirty = False

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        header: dict[str, Any],
        durability: Durability = Durability.TURN,
        create: bool = True,
        sidecar_dir: Path | None = None,
    ) -> tuple[TranscriptFile, OpenReport]:
        """Lock ``path`` (creating it with ``header`` when absent and ``create``), repair, and load it.

        Raises:
            SessionOwnedElsewhereError: another process holds the file's lock.
            CorruptTranscriptError: the file has bytes but no session header.
            TranscriptMissingError: the file is absent and ``create`` is false; nothing was created.

        Side files (torn tail, quarantine, migration backup) go to ``sidecar_dir``, by
        default the transcript's own directory.
        """
        side = sidecar_dir or path.parent
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            raise TranscriptMissingError(f"{path} is missing") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise SessionOwnedElsewhereError(
                        f"{path} is owned by another process (its lock is held)"
                    ) from None
                raise
            report_kw: dict[str, Any] = {"created": False}
            data = _read_all(fd)
            if not data:
                os.write(fd, dumps_line(header))
                os.fsync(fd)
                report_kw["created"] = True
                data = _read_all(fd)
            parsed = parse_transcript(data)
            if parsed.torn_tail is not None:
                sidecar = _free_name(side / path.name, ".torn")
                with open(sidecar, "xb") as f:
                    f.write(parsed.torn_tail)
                    f.flush()
                    os.fsync(f.fileno())
                os.ftruncate(fd, len(data) - len(parsed.torn_tail))
                os.fsync(fd)
                report_kw.update(torn_bytes=len(parsed.torn_tail), torn_sidecar=str(sidecar))
            elif parsed.missing_final_newline:
                os.write(fd, b"\n")
                os.fsync(fd)
            if parsed.header is None:
                raise CorruptTranscriptError(f"{path} does not start with a session header")
            if parsed.version < 3:
                # Migrate while we hold the lock: the migrated file replaces this one by
                # rename, so re-open (and re-lock) the new inode afterwards.
                mig = migrate_file(path, sidecar_dir=side)
                report_kw.update(migrated_from=parsed.version, backup=_str(mig.backup))
                os.close(fd)
                fd = -1
                transcript, again = cls.open(path, header=header, durability=durability, create=False,
                                             sidecar_dir=sidecar_dir)
                return transcript, attrs.evolve(again, **report_kw)
            if parsed.bad_lines:
                report_kw.update(bad_lines=len(parsed.bad_lines), quarantine=_quarantine(side / path.name, parsed))
            return cls(path, fd, list(parsed.entries), durability), OpenReport(**report_kw)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise

    def fileno(self) -> int:
        return self._fd

    @property
    def fingerprint(self) -> Fingerprint:
        return self._fingerprint

    def check_fence(self) -> None:
        """Raise ``FencedError`` if the file changed since our last write (or was replaced)."""
        try:
            current = Fingerprint.of(os.stat(self.path))
        except FileNotFoundError:
            raise FencedError(f"{self.path} was removed by someone else") from None
        if current != self._fingerprint:
            raise FencedError(
                f"{self.path} changed outside its owner (was {self._fingerprint}, now {current})"
            )

    def append(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append ``entries`` as whole lines in one write, after the fence check.

        Raises:
            FencedError: the file changed outside the owner. Nothing was written, unless the
                outside write landed between the fence check and the ``fstat`` after our
                write: then our lines are in the file too (``O_APPEND``: neither write
                overwrote the other), and the session is fenced all the same.
        """
        if not entries:
            return
        self.check_fence()
        data = b"".join(dumps_line(e) for e in entries)
        expected_size = self._fingerprint.size + len(data)
        written = os.write(self._fd, data)
        if written != len(data):  # only on a full disk; the partial line is repaired on open
            raise OSError(errno.ENOSPC, f"short write to {self.path}: {written} of {len(data)}")
        if self.durability is Durability.ENTRY:
            os.fsync(self._fd)
        else:
            self._dirty = True
        after = Fingerprint.of(os.fstat(self._fd))
        for e in entries:
            self.entries.append(e)
            self.ids.add(e["id"])
        self.leaf_id = entries[-1]["id"]
        if after.size != expected_size:
            # Someone appended between check_fence's stat and this fstat. Taking ``after``
            # as our fingerprint would hide their bytes from every later check: keep the old
            # one, so that every later append is fenced too.
            raise FencedError(f"{self.path} changed outside its owner while it appended "
                              f"(size {after.size}, expected {expected_size})")
        self._fingerprint = after

    def sync(self) -> None:
        """fsync now if anything is unsynced and durability is not ``never``."""
        if self._dirty and self.durability is not Durability.NEVER:
            os.fsync(self._fd)
        self._dirty = False

    def close(self) -> None:
        """Sync, unlock and close. Idempotent."""
        if self._fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self._fd)  # closing the descriptor releases the flock
                self._fd = -1


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _free_name(path: Path, suffix: str) -> Path:
    n = 0
    while True:
        candidate = path.with_name(f"{path.name}{suffix}" + (f".{n}" if n else ""))
        if not candidate.exists():
            return candidate
        n += 1


def _quarantine(path: Path, parsed: Any) -> str:
    """Record the bad lines beside the transcript (the transcript itself keeps them too)."""
    records = [files.quarantine_record(bad.line_no, bad.raw, "bad_line", bad.error) for bad in parsed.bad_lines]
    return str(files.append_quarantine(path, records))


def _str(value: object) -> str | None:
    return None if value is None else str(value)
