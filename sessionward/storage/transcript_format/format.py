"""Reading and writing transcript lines (pure): parsing that never loses a byte, the one
JavaScript-compatible encoder (``sessionward.storage.js_json``), entry ids and timestamps.

The rules follow pi-mono's ``session-manager.ts``; see the package docstring.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import secrets
import uuid
from collections.abc import Container, Iterable
from decimal import Decimal
from typing import Any

from sessionward.storage.js_json import stringify
from sessionward.storage.transcript_format.records import BadLine, ParsedTranscript

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


def _skip_space(text: str, pos: int) -> int:
    # The pattern matches the empty string too, so it always matches.
    match = _JSON_SPACE.match(text, pos)
    assert match is not None
    return match.end()


def _objects_on_line(raw: bytes) -> list[dict[str, Any]]:
    """Decode every JSON object on one line, or raise ``ValueError``.

    A line is recovered only when it splits wholly into objects (JSON whitespace between
    them is allowed). Anything else fails the whole line, so a line is never half-kept.
    """
    text = raw.decode("utf-8")
    found: list[dict[str, Any]] = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        obj, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(obj, dict):
            name = "boolean" if isinstance(obj, bool) else _JSON_NAMES.get(type(obj), "null")
            # bad data on a line, caught with the JSON errors: not a bad argument
            raise ValueError(f"a JSON {name} is not an entry (entries are objects)")
        found.append(obj)
        pos = _skip_space(text, pos)
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


def epoch_ms(timestamp: Any) -> int | None:
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
