"""Tests for ``sessionward.storage.transcript_format``: literal inputs, pi's real v1 files, and fuzzing.

The real files are pi-mono's, in the shared fixtures folder beside the repository (see its
SOURCES.md). Expected values for them are computed here independently of the module: by
reading the lines with ``json`` directly and applying pi's rules by index.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionward.errors import CorruptTranscriptError
from sessionward.storage.transcript_format import (
    BadLine,
    build_context,
    dumps_line,
    dumps_transcript,
    iso_timestamp,
    migrate_file,
    migrate_to_v3,
    new_entry_id,
    parse_transcript,
)

FIXTURES = Path(
    os.environ.get(
        "SESSIONWARD_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "transcripts",
    )
)
HEX8 = re.compile(r"[0-9a-f]{8}")

# From SOURCES.md: the two lines where two JSON objects are joined with no newline.
JOINED = {
    "pi-mono__compact.jsonl": (1013, [("message", "assistant"), ("compaction", None)]),
    "pi-mono__session.jsonl": (440, [("message", "assistant"), ("message", "user")]),
}


# Objects migration sets aside, by index among the file's objects (header 0): the compaction
# recovered from compact.jsonl line 1013, whose firstKeptEntryIndex 1013 is itself.
SET_ASIDE = {"pi-mono__compact.jsonl": {1013}}


def _kept(path: Path, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    gone = SET_ASIDE.get(path.name, set())
    return [obj for i, obj in enumerate(objects) if i not in gone]


def _fixture_files() -> list[Any]:
    files = sorted(FIXTURES.glob("*.jsonl")) if FIXTURES.is_dir() else []
    if not files:
        reason = f"no transcript fixtures in {FIXTURES} (set SESSIONWARD_FIXTURES to their folder)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(f, id=f.name.removeprefix("pi-mono__")) for f in files]


def _reference_lines(data: bytes) -> list[list[dict[str, Any]]]:
    """Every line's objects, read with plain ``json`` (the module's reader not used)."""
    decoder = json.JSONDecoder()
    lines = []
    for raw in data.split(b"\n")[:-1]:
        text, objs, pos = raw.decode("utf-8"), [], 0
        while pos < len(text):
            obj, pos = decoder.raw_decode(text, pos)
            objs.append(obj)
        lines.append(objs)
    return lines


def _seeded_migration(data: bytes, seed: int = 7) -> Any:
    return migrate_to_v3(parse_transcript(data), random.Random(seed))


def _jsonl(*objs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


HEADER_V1 = {"type": "session", "id": "s-1", "timestamp": "2025-12-01T10:00:00.000Z", "cwd": "/w"}
HEADER_V3 = {**HEADER_V1, "version": 3}


def _v3(kind: str, entry_id: str, parent: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "id": entry_id,
        "parentId": parent,
        "timestamp": "2025-12-01T10:00:01.000Z",
        **fields,
    }


def _msg(entry_id: str, parent: str | None, role: str = "user", text: str = "hi") -> dict[str, Any]:
    return _v3("message", entry_id, parent, message={"role": role, "content": text})


# --------------------------------------------------------------------------- real files


@pytest.mark.parametrize("path", _fixture_files())
def test_every_line_of_a_real_file_is_read_with_nothing_lost(path: Path) -> None:
    data = path.read_bytes()
    parsed = parse_transcript(data)
    reference = _reference_lines(data)
    assert parsed.bad_lines == ()
    assert parsed.torn_tail is None
    assert not parsed.missing_final_newline
    assert parsed.line_count == len(reference) == data.count(b"\n")
    assert parsed.header == reference[0][0]
    assert parsed.header_line == 1
    assert parsed.version == 1
    assert list(parsed.entries) == [obj for objs in reference[1:] for obj in objs]
    assert parsed.joined_lines == tuple(i for i, objs in enumerate(reference, 1) if len(objs) > 1)


@pytest.mark.parametrize("name", sorted(JOINED))
def test_both_objects_of_a_joined_line_are_recovered(name: str) -> None:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {path} is absent")
    line_no, expected = JOINED[name]
    parsed = parse_transcript(path.read_bytes())
    assert parsed.joined_lines == (line_no,)
    from_line = [e for e, n in zip(parsed.entries, parsed.entry_lines, strict=True) if n == line_no]
    assert [(e["type"], e.get("message", {}).get("role")) for e in from_line] == expected
    if name == "pi-mono__compact.jsonl":
        assert from_line[1]["firstKeptEntryIndex"] == 1013
        assert from_line[1]["tokensBefore"] == 131140


@pytest.mark.parametrize("path", _fixture_files())
def test_entries_round_trip_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    lines = data.split(b"\n")
    parsed = parse_transcript(data)
    assert dumps_line(parsed.header) == lines[0] + b"\n"
    for entry, line_no in zip(parsed.entries, parsed.entry_lines, strict=True):
        assert json.loads(dumps_line(entry)) == entry
        if line_no not in parsed.joined_lines:
            assert dumps_line(entry) == lines[line_no - 1] + b"\n"


@pytest.mark.parametrize("path", _fixture_files())
def test_migration_gives_unique_hex_ids_and_an_unbroken_parent_chain(path: Path) -> None:
    migration = _seeded_migration(path.read_bytes())
    entries = migration.parsed_v3.entries
    assert migration.changed and migration.from_version == 1
    assert migration.parsed_v3.version == 3
    assert migration.parsed_v3.header["version"] == 3
    ids = [e["id"] for e in entries]
    assert all(HEX8.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert entries[0]["parentId"] is None
    seen: set[str] = set()
    for entry in entries:
        assert entry["parentId"] is None or entry["parentId"] in seen
        seen.add(entry["id"])
    # a v1 file is one line of history: each entry's parent is the entry before it
    assert [e["parentId"] for e in entries[1:]] == ids[:-1]


@pytest.mark.parametrize("path", _fixture_files())
def test_migration_adds_ids_and_renames_first_kept_index_and_changes_nothing_else(
    path: Path,
) -> None:
    data = path.read_bytes()
    original = parse_transcript(data)
    migrated = _seeded_migration(data).parsed_v3
    assert migrated.header == {**original.header, "version": 3}
    kept = _kept(path, [original.header, *original.entries])[1:]
    assert len(migrated.entries) == len(kept)
    for before, after in zip(kept, migrated.entries, strict=True):
        stripped = {
            k: v for k, v in after.items() if k not in ("id", "parentId", "firstKeptEntryId")
        }
        expected = {k: v for k, v in before.items() if k != "firstKeptEntryIndex"}
        assert stripped == expected
        assert list(after)[-2:] == ["id", "parentId"] or after["type"] == "compaction"


@pytest.mark.parametrize("path", _fixture_files())
def test_first_kept_entry_id_names_the_entry_first_kept_entry_index_named(path: Path) -> None:
    data = path.read_bytes()
    reference = [obj for objs in _reference_lines(data) for obj in objs]  # header at index 0
    reference = _kept(path, reference)  # set-aside objects come after every index used
    migrated = _seeded_migration(data).parsed_v3
    file_entries = [migrated.header, *migrated.entries]
    compactions = [i for i, o in enumerate(reference) if o.get("type") == "compaction"]
    for i in compactions:
        index = reference[i]["firstKeptEntryIndex"]
        assert "firstKeptEntryIndex" not in file_entries[i]
        assert file_entries[i]["firstKeptEntryId"] == file_entries[index]["id"]
        added = ("id", "parentId", "firstKeptEntryId", "firstKeptEntryIndex")
        target = {k: v for k, v in file_entries[index].items() if k not in added}
        assert target == {k: v for k, v in reference[index].items() if k not in added}
    if path.name == "pi-mono__compact.jsonl":  # the joined compaction is left out
        assert [e["type"] for e in file_entries].count("compaction") == 1


def test_a_compaction_recovered_from_a_joined_line_that_keeps_from_itself_is_set_aside() -> None:
    header = {"type": "session", "id": "s", "timestamp": "2025-01-01T00:00:00.000Z", "cwd": "/"}
    user = {"type": "message", "timestamp": "2025-01-01T00:00:01.000Z",
            "message": {"role": "user", "content": "hi", "timestamp": 1}}
    reply = {"type": "message", "timestamp": "2025-01-01T00:00:02.000Z",
             "message": {"role": "assistant", "content": [], "timestamp": 2}}
    broken = {"type": "compaction", "timestamp": "2025-01-01T00:00:03.000Z", "summary": "s",
              "firstKeptEntryIndex": 3, "tokensBefore": 9}
    after = {**user, "timestamp": "2025-01-01T00:00:04.000Z"}
    lines = [json.dumps(header), json.dumps(user), json.dumps(reply) + json.dumps(broken), json.dumps(after)]
    migration = migrate_to_v3(parse_transcript(("\n".join(lines) + "\n").encode()))
    entries = migration.parsed_v3.entries
    assert [e["type"] for e in entries] == ["message", "message", "message"]
    assert [e["parentId"] for e in entries] == [None, entries[0]["id"], entries[1]["id"]]
    assert [(a.line_no, a.entry) for a in migration.set_aside] == [(3, broken)]
    assert "is the compaction itself" in migration.set_aside[0].reason
    assert [m["role"] for m in build_context(entries)] == ["user", "assistant", "user"]


def test_a_joined_compaction_that_keeps_an_earlier_entry_is_kept() -> None:
    header = {"type": "session", "id": "s", "timestamp": "2025-01-01T00:00:00.000Z", "cwd": "/"}
    user = {"type": "message", "timestamp": "2025-01-01T00:00:01.000Z",
            "message": {"role": "user", "content": "hi", "timestamp": 1}}
    good = {"type": "compaction", "timestamp": "2025-01-01T00:00:03.000Z", "summary": "s",
            "firstKeptEntryIndex": 1, "tokensBefore": 9}
    lines = [json.dumps(header), json.dumps(user) + json.dumps(good)]
    migration = migrate_to_v3(parse_transcript(("\n".join(lines) + "\n").encode()))
    assert migration.set_aside == ()
    assert [e["type"] for e in migration.parsed_v3.entries] == ["message", "compaction"]


@pytest.mark.parametrize("path", _fixture_files())
def test_context_is_the_last_summary_then_the_messages_from_the_first_kept_entry_on(
    path: Path,
) -> None:
    data = path.read_bytes()
    reference = _kept(path, [obj for objs in _reference_lines(data) for obj in objs])
    context = build_context(_seeded_migration(data).parsed_v3.entries)
    compactions = [i for i, o in enumerate(reference) if o.get("type") == "compaction"]
    if not compactions:
        expected = [o["message"] for o in reference if o.get("type") == "message"]
        assert list(context) == expected
        return
    last = reference[compactions[-1]]
    kept_from = last["firstKeptEntryIndex"]  # never after the compaction in these files
    expected = [o["message"] for o in reference[kept_from:] if o.get("type") == "message"]
    assert len(context) == 1 + len(expected)
    assert context[0] == {
        "role": "compactionSummary",
        "summary": last["summary"],
        "tokensBefore": last["tokensBefore"],
        "timestamp": _ms(last["timestamp"]),
    }
    assert list(context[1:]) == expected


def _ms(iso: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.parametrize("path", _fixture_files())
def test_migration_repeats_exactly_for_a_seeded_rng(path: Path) -> None:
    data = path.read_bytes()
    first, second = _seeded_migration(data, 3), _seeded_migration(data, 3)
    assert first == second
    assert _seeded_migration(data, 4).parsed_v3.entries != first.parsed_v3.entries


@pytest.mark.parametrize("path", _fixture_files())
def test_migrate_file_replaces_a_copy_atomically_and_keeps_the_original(
    path: Path, tmp_path: Path
) -> None:
    tmp_path = tmp_path.resolve()  # reports name real paths
    original = path.read_bytes()
    copy = tmp_path / path.name
    copy.write_bytes(original)
    copy.chmod(0o640)
    with open(copy, "rb") as old:  # a reader of the old file keeps seeing the old bytes
        report = migrate_file(copy, random.Random(5))
        assert old.read() == original
    expected = _seeded_migration(original, 5).parsed_v3
    assert report.changed and report.from_version == 1
    assert report.backup == tmp_path / f"{path.name}.v1.bak"
    assert report.backup.read_bytes() == original
    assert report.bad_lines == 0
    if path.name in SET_ASIDE:  # the joined line of a set-aside compaction, bytes exact
        records = [json.loads(line) for line in report.quarantine.read_text().splitlines()]
        assert [(r["lineNo"], r["kind"]) for r in records] == [(1013, "unusable_compaction")]
        assert base64.b64decode(records[0]["rawBase64"]) == original.split(b"\n")[1012]
    else:
        assert report.quarantine is None
    assert report.entries == len(expected.entries)
    assert copy.read_bytes() == dumps_transcript(expected.header, expected.entries)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o640
    reread = parse_transcript(copy.read_bytes())
    assert (reread.version, reread.bad_lines, reread.joined_lines) == (3, (), ())
    assert reread.entries == expected.entries
    side = [report.quarantine.name] if report.quarantine else []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, report.backup.name, *side])
    again = migrate_file(copy)
    assert not again.changed and again.backup is None and again.from_version == 3
    assert len(list(tmp_path.iterdir())) == 2 + len(side)


# --------------------------------------------------------------------------- parsing


def test_a_torn_last_line_is_reported_apart_and_not_kept() -> None:
    data = _jsonl(HEADER_V3, _msg("aaaaaaaa", None)) + b'{"type":"message","id":"bb'
    parsed = parse_transcript(data)
    assert parsed.torn_tail == b'{"type":"message","id":"bb'
    assert [e["id"] for e in parsed.entries] == ["aaaaaaaa"]
    assert parsed.bad_lines == ()
    assert not parsed.missing_final_newline
    assert parsed.line_count == 3


def test_a_whole_last_line_without_its_newline_is_kept_and_flagged() -> None:
    data = _jsonl(HEADER_V3) + json.dumps(_msg("aaaaaaaa", None)).encode()
    parsed = parse_transcript(data)
    assert parsed.torn_tail is None
    assert parsed.missing_final_newline
    assert [e["id"] for e in parsed.entries] == ["aaaaaaaa"]


def test_a_non_utf8_line_becomes_a_bad_line_and_its_neighbours_still_load() -> None:
    bad = b'{"type":"message","note":"\xff\xfe"}'
    data = _jsonl(HEADER_V3, _msg("aaaaaaaa", None)) + bad + b"\n" + _jsonl(_msg("bbbbbbbb", None))
    parsed = parse_transcript(data)
    assert [e["id"] for e in parsed.entries] == ["aaaaaaaa", "bbbbbbbb"]
    assert parsed.entry_lines == (2, 4)
    [line] = parsed.bad_lines
    assert (line.line_no, line.raw) == (3, bad)
    assert line.error.startswith("not UTF-8")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"type":"message"}garbage', "not JSON"),
        (b'{"type":"message"}{"type":"mess', "not JSON"),
        (b"[1, 2]", "a JSON array is not an entry"),
        (b'"text"', "a JSON string is not an entry"),
        (b"null", "a JSON null is not an entry"),
        (b'{"n": NaN}', "NaN is not JSON"),
        (b'{"n": -Infinity}', "-Infinity is not JSON"),
        (b'{"n": 1e999}', "out of range"),
        (b"\xef\xbb\xbf{}", "not JSON"),  # a byte-order mark: JSON.parse refuses it too
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_a_line_that_is_not_wholly_json_objects_is_bad_as_a_whole(raw: bytes, error: str) -> None:
    parsed = parse_transcript(_jsonl(HEADER_V3) + raw + b"\n" + _jsonl(_msg("aaaaaaaa", None)))
    assert parsed.bad_lines == (BadLine(2, raw, parsed.bad_lines[0].error),)
    assert error in parsed.bad_lines[0].error
    assert [e["id"] for e in parsed.entries] == ["aaaaaaaa"]


def test_blank_lines_are_skipped_and_crlf_lines_read() -> None:
    data = _jsonl(HEADER_V3) + b"\n  \t\n" + json.dumps(_msg("aaaaaaaa", None)).encode() + b"\r\n"
    parsed = parse_transcript(data)
    assert parsed.blank_lines == (2, 3)
    assert parsed.entry_lines == (4,)
    assert parsed.bad_lines == ()


def test_the_header_is_the_first_object_read_even_after_a_bad_line() -> None:
    # pi's loader skips the bad line too, and then sees the header first
    parsed = parse_transcript(b"oops\n" + _jsonl(HEADER_V3, _msg("aaaaaaaa", None)))
    assert parsed.header == HEADER_V3 and parsed.header_line == 2
    assert parsed.bad_lines[0].line_no == 1


def test_a_file_that_starts_with_an_entry_has_no_header() -> None:
    parsed = parse_transcript(_jsonl(_msg("aaaaaaaa", None), HEADER_V3))
    assert parsed.header is None
    assert [e["type"] for e in parsed.entries] == ["message", "session"]


@pytest.mark.parametrize(
    ("header", "version"),
    [
        (HEADER_V1, 1),
        ({**HEADER_V1, "version": None}, 1),
        ({**HEADER_V1, "version": 2}, 2),
        ({**HEADER_V1, "version": 3.0}, 3),
        ({**HEADER_V1, "version": "3"}, 0),
        ({**HEADER_V1, "version": True}, 0),
        ({**HEADER_V1, "version": 2.5}, 0),
    ],
)
def test_the_version_is_read_from_the_header_with_1_as_default(
    header: dict[str, Any], version: int
) -> None:
    assert parse_transcript(_jsonl(header)).version == version


# --------------------------------------------------------------------------- migration


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "not a"),
        (_jsonl(_msg("aaaaaaaa", None)), "not a"),
        (_jsonl({**HEADER_V1, "id": 42}), "no string id"),
        (_jsonl({**HEADER_V1, "version": "two"}), "not a version"),
    ],
)
def test_a_transcript_without_a_usable_header_cannot_be_migrated(data: bytes, why: str) -> None:
    with pytest.raises(CorruptTranscriptError, match=why):
        migrate_to_v3(parse_transcript(data))


@pytest.mark.parametrize("version", [3, 4])
def test_a_file_at_version_3_or_later_is_left_as_it_is(version: int) -> None:
    parsed = parse_transcript(_jsonl({**HEADER_V1, "version": version}, _msg("aaaaaaaa", None)))
    migration = migrate_to_v3(parsed)
    assert not migration.changed
    assert migration.parsed_v3 is parsed


def test_unknown_types_and_fields_pass_through_migration_unchanged() -> None:
    odd = {"type": "x_telemetry", "timestamp": "t", "nested": {"k": [1, 2.5, None]}, "é": "ü"}
    msg = {"type": "message", "message": {"role": "user", "content": "hi", "extraField": True}}
    parsed = parse_transcript(_jsonl(HEADER_V1, odd, msg))
    entries = migrate_to_v3(parsed, random.Random(1)).parsed_v3.entries
    assert [{k: v for k, v in e.items() if k not in ("id", "parentId")} for e in entries] == [
        odd,
        msg,
    ]
    assert parsed.entries == (odd, msg)  # the input was not mutated
    for entry in entries:
        assert json.loads(dumps_line(entry)) == entry


def test_a_v2_hook_message_becomes_a_custom_message_and_nothing_else_changes() -> None:
    hook = _v3(
        "message",
        "aaaaaaaa",
        None,
        message={"role": "hookMessage", "customType": "x", "content": "c", "timestamp": 1},
    )
    plain = _msg("bbbbbbbb", "aaaaaaaa")
    migration = migrate_to_v3(parse_transcript(_jsonl({**HEADER_V1, "version": 2}, hook, plain)))
    header, entries = migration.parsed_v3.header, migration.parsed_v3.entries
    assert header == {**HEADER_V1, "version": 3}
    assert entries[0] == {**hook, "message": {**hook["message"], "role": "custom"}}
    assert list(entries[0]["message"]) == list(hook["message"])  # key order kept
    assert entries[1] == plain
    assert any("hookMessage" in note for note in migration.notes)


def test_a_v1_hook_message_is_renamed_too() -> None:
    hook = {"type": "message", "message": {"role": "hookMessage", "content": "c"}}
    entries = migrate_to_v3(parse_transcript(_jsonl(HEADER_V1, hook))).parsed_v3.entries
    assert entries[0]["message"]["role"] == "custom"


def test_a_first_kept_index_that_names_no_earlier_entry_is_dropped_as_pi_drops_it() -> None:
    user = {"type": "message", "message": {"role": "user", "content": "a"}}

    def compaction(index: Any) -> dict[str, Any]:
        return {
            "type": "compaction",
            "summary": "s",
            "firstKeptEntryIndex": index,
            "tokensBefore": 9,
        }

    # index 0 is the header, 4 is after the compaction, 9 is past the end, 1.5 names nothing
    data = _jsonl(
        HEADER_V1, user, compaction(0), compaction(4), user, compaction(9), compaction(1.5)
    )
    entries = migrate_to_v3(parse_transcript(data), random.Random(2)).parsed_v3.entries
    for entry in entries:
        assert "firstKeptEntryIndex" not in entry
        assert "firstKeptEntryId" not in entry


def test_a_first_kept_index_that_is_not_a_number_is_left_alone_as_pi_leaves_it() -> None:
    comp = {"type": "compaction", "summary": "s", "firstKeptEntryIndex": "1", "tokensBefore": 9}
    [entry] = migrate_to_v3(parse_transcript(_jsonl(HEADER_V1, comp))).parsed_v3.entries
    assert entry["firstKeptEntryIndex"] == "1"
    assert "firstKeptEntryId" not in entry


def test_old_ids_in_a_v1_file_are_replaced_as_pi_replaces_them() -> None:
    entry = {"type": "message", "id": "old", "parentId": "older", "message": {"role": "user"}}
    [migrated] = migrate_to_v3(parse_transcript(_jsonl(HEADER_V1, entry))).parsed_v3.entries
    assert HEX8.fullmatch(migrated["id"]) and migrated["parentId"] is None
    assert list(migrated) == list(entry)  # existing keys keep their place


# --------------------------------------------------------------------------- ids, lines, times


def test_new_entry_ids_are_8_hex_and_repeat_for_a_seeded_rng() -> None:
    ids = [new_entry_id(set(), random.Random(9)) for _ in range(2)]
    assert ids[0] == ids[1] and HEX8.fullmatch(ids[0])
    assert HEX8.fullmatch(new_entry_id(set()))


def test_a_new_entry_id_is_never_one_that_exists() -> None:
    taken = {new_entry_id(set(), random.Random(9))}
    fresh = new_entry_id(taken, random.Random(9))  # the same first draw, refused
    assert fresh not in taken and HEX8.fullmatch(fresh)


def test_a_new_entry_id_falls_back_to_a_uuid_after_100_collisions_as_pi_does() -> None:
    class Everything:
        def __contains__(self, item: object) -> bool:
            return len(str(item)) == 8

    fallback = new_entry_id(Everything(), random.Random(1))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", fallback
    )


def test_dumps_line_writes_compact_utf8_in_key_order_on_one_line() -> None:
    line = dumps_line({"z": "ü\n\u2028", "a": [1, None, True], "é": {}})
    assert line == '{"z":"ü\\n\u2028","a":[1,null,true],"é":{}}\n'.encode()
    assert line.count(b"\n") == 1


def test_dumps_line_escapes_a_lone_surrogate_as_json_stringify_does() -> None:
    line = dumps_line({"t": "a\ud800b"})
    assert line == b'{"t":"a\\ud800b"}\n'
    assert json.loads(line) == {"t": "a\ud800b"}


@pytest.mark.parametrize("bad", [{"n": float("nan")}, {"n": float("inf")}])
def test_dumps_line_refuses_numbers_json_cannot_hold(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        dumps_line(bad)


def test_dumps_line_refuses_what_is_not_json() -> None:
    with pytest.raises(TypeError):
        dumps_line({"s": {1, 2}})
    with pytest.raises(TypeError):
        dumps_line({1: "x"})
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        dumps_line(loop)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5e-05, "0.000015"),
        (1.5000000000000002e-05, "0.000015000000000000002"),
        (1e-7, "1e-7"),
        (1.2345e-7, "1.2345e-7"),
        (0.000001, "0.000001"),
        (123.0, "123"),
        (-2.5, "-2.5"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.2e21, "1.2e+21"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2**70, "1180591620717411303424"),  # an int stays exact
        (5.568508372494991e16, "5.568508372494991e+16"),  # a whole float past 2**53 too
        (2.0**53, "9007199254740992"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert dumps_line({"n": value}) == b'{"n":' + text.encode() + b"}\n"


@pytest.mark.parametrize(
    ("seconds", "iso"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1795608000, "2026-11-25T12:00:00.000Z"),
        (1795608000.123, "2026-11-25T12:00:00.123Z"),
        (1795608000.9999, "2026-11-25T12:00:00.999Z"),
        (-0.5, "1969-12-31T23:59:59.500Z"),
    ],
)
def test_iso_timestamp_writes_utc_milliseconds_as_to_iso_string_does(
    seconds: float, iso: str
) -> None:
    assert iso_timestamp(seconds) == iso


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), 1e12, 10**400])
def test_iso_timestamp_refuses_what_is_not_a_time(seconds: float) -> None:
    with pytest.raises(ValueError):
        iso_timestamp(seconds)


# --------------------------------------------------------------------------- model context


def test_the_context_follows_only_the_branch_that_ends_at_the_last_entry() -> None:
    entries = [
        _msg("r0000000", None, text="root"),
        _msg("a0000000", "r0000000", text="abandoned"),
        _msg("b0000000", "r0000000", text="taken"),
        _msg("c0000000", "b0000000", role="assistant", text="reply"),
    ]
    assert [m["content"] for m in build_context(entries)] == ["root", "taken", "reply"]


def test_custom_messages_and_branch_summaries_become_messages_and_the_rest_does_not() -> None:
    entries = [
        _msg("e1000000", None),
        _v3("model_change", "e2000000", "e1000000", provider="p", modelId="m"),
        _v3("thinking_level_change", "e3000000", "e2000000", thinkingLevel="high"),
        _v3("custom", "e4000000", "e3000000", customType="state", data={"x": 1}),
        _v3("label", "e5000000", "e4000000", targetId="e1000000", label="start"),
        _v3("session_info", "e6000000", "e5000000", name="my session"),
        _v3("custom_message", "e7000000", "e6000000", customType="note", content="c", display=True),
        _v3("branch_summary", "e8000000", "e7000000", fromId="e1000000", summary="went astray"),
        _v3("branch_summary", "e9000000", "e8000000", fromId="e1000000", summary=""),
        _v3("x_unknown", "ea000000", "e9000000", message={"role": "user"}),
    ]
    assert build_context(entries) == (
        entries[0]["message"],
        {
            "role": "custom",
            "customType": "note",
            "content": "c",
            "display": True,
            "timestamp": _ms("2025-12-01T10:00:01.000Z"),
        },
        {
            "role": "branchSummary",
            "summary": "went astray",
            "fromId": "e1000000",
            "timestamp": _ms("2025-12-01T10:00:01.000Z"),
        },
    )


def test_only_the_last_compaction_on_the_path_counts() -> None:
    entries = [
        _msg("m1000000", None, text="1"),
        _msg("m2000000", "m1000000", text="2"),
        _v3(
            "compaction",
            "c1000000",
            "m2000000",
            summary="first",
            firstKeptEntryId="m1000000",
            tokensBefore=10,
        ),
        _msg("m3000000", "c1000000", text="3"),
        _msg("m4000000", "m3000000", text="4"),
        _v3(
            "compaction",
            "c2000000",
            "m4000000",
            summary="second",
            firstKeptEntryId="m3000000",
            tokensBefore=20,
        ),
        _msg("m5000000", "c2000000", text="5"),
    ]
    context = build_context(entries)
    assert context[0] == {
        "role": "compactionSummary",
        "summary": "second",
        "tokensBefore": 20,
        "timestamp": _ms("2025-12-01T10:00:01.000Z"),
    }
    assert [m["content"] for m in context[1:]] == ["3", "4", "5"]


def test_a_compaction_whose_first_kept_entry_is_not_on_the_path_keeps_nothing_before_it() -> None:
    entries = [
        _msg("m1000000", None, text="1"),
        _v3(
            "compaction",
            "c1000000",
            "m1000000",
            summary="s",
            firstKeptEntryId="elsewhere",
            tokensBefore=1,
        ),
        _msg("m2000000", "c1000000", text="2"),
    ]
    assert [m.get("content", m["role"]) for m in build_context(entries)] == [
        "compactionSummary",
        "2",
    ]


def test_the_context_of_nothing_is_empty_and_a_parent_cycle_ends_the_walk() -> None:
    assert build_context([]) == ()
    assert build_context([HEADER_V3]) == ()
    cycle = [_msg("a0000000", "b0000000", text="a"), _msg("b0000000", "a0000000", text="b")]
    assert [m["content"] for m in build_context(cycle)] == ["a", "b"]


# --------------------------------------------------------------------------- migrate_file


def test_migrate_file_quarantines_bad_lines_and_a_torn_tail_with_their_exact_bytes(
    tmp_path: Path,
) -> None:
    tmp_path = tmp_path.resolve()  # reports name real paths
    path = tmp_path / "s.jsonl"
    bad = b'{"broken": \xff'
    torn = b'{"type":"mess'
    user = {"type": "message", "message": {"role": "user", "content": "a"}}
    path.write_bytes(_jsonl(HEADER_V1, user) + bad + b"\n" + _jsonl(user) + torn)
    report = migrate_file(path, random.Random(1))
    assert report.changed and (report.bad_lines, report.torn_tail_bytes) == (1, len(torn))
    assert report.quarantine == tmp_path / "s.jsonl.quarantine.jsonl"
    records = [json.loads(line) for line in report.quarantine.read_bytes().splitlines()]
    assert [(r["lineNo"], r["kind"]) for r in records] == [(3, "bad_line"), (5, "torn_tail")]
    assert [base64.b64decode(r["rawBase64"]) for r in records] == [bad, torn]
    assert records[0]["raw"] == bad.decode("utf-8", "surrogateescape")
    migrated = parse_transcript(path.read_bytes())
    assert (migrated.version, migrated.bad_lines, migrated.torn_tail) == (3, (), None)
    assert len(migrated.entries) == 2


def test_migrate_file_appends_to_an_existing_quarantine_and_never_overwrites_a_backup(
    tmp_path: Path,
) -> None:
    tmp_path = tmp_path.resolve()  # reports name real paths
    path = tmp_path / "s.jsonl"
    (tmp_path / "s.jsonl.v1.bak").write_bytes(b"older backup")
    (tmp_path / "s.jsonl.quarantine.jsonl").write_bytes(b'{"lineNo":1}')  # cut short
    path.write_bytes(_jsonl(HEADER_V1) + b"junk\n")
    report = migrate_file(path)
    assert report.backup == tmp_path / "s.jsonl.v1.bak.1"
    assert (tmp_path / "s.jsonl.v1.bak").read_bytes() == b"older backup"
    lines = report.quarantine.read_bytes().splitlines()
    assert lines[0] == b'{"lineNo":1}'
    assert json.loads(lines[1])["rawBase64"] == base64.b64encode(b"junk").decode()


def test_migrate_file_reads_a_v3_file_and_never_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    data = _jsonl(HEADER_V3, _msg("aaaaaaaa", None)) + b"junk\n"
    path.write_bytes(data)
    report = migrate_file(path)
    assert not report.changed and report.bad_lines == 1 and report.quarantine is None
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["s.jsonl"]


def test_migrate_file_writes_nothing_for_a_file_without_a_header(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"junk\n" + _jsonl(_msg("aaaaaaaa", None)))
    with pytest.raises(CorruptTranscriptError):
        migrate_file(path)
    assert [p.name for p in tmp_path.iterdir()] == ["s.jsonl"]


def test_migrate_file_follows_a_symlink_and_keeps_it(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()  # reports name real paths
    real = tmp_path / "real.jsonl"
    real.write_bytes(_jsonl(HEADER_V1))
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    report = migrate_file(link)
    assert report.path == real and link.is_symlink()
    assert parse_transcript(link.read_bytes()).version == 3


# --------------------------------------------------------------------------- fuzzing


def _decode_all(raw: bytes) -> list[dict[str, Any]]:
    decoder, text, pos, found = json.JSONDecoder(), raw.decode("utf-8"), 0, []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos == len(text):
            return found
        obj, pos = decoder.raw_decode(text, pos)
        found.append(obj)


def _assert_every_line_accounted_for(data: bytes) -> None:
    parsed = parse_transcript(data)
    segments = data.split(b"\n")
    ended = segments[-1] == b""
    if ended:
        segments.pop()
    assert parsed.line_count == len(segments)
    bad = {b.line_no: b.raw for b in parsed.bad_lines}
    assert len(bad) == len(parsed.bad_lines)
    objects: dict[int, list[dict[str, Any]]] = {}
    if parsed.header is not None:
        objects[parsed.header_line] = [parsed.header]
    for entry, line_no in zip(parsed.entries, parsed.entry_lines, strict=True):
        objects.setdefault(line_no, []).append(entry)
    for line_no, raw in enumerate(segments, 1):
        torn = parsed.torn_tail is not None and line_no == len(segments)
        kinds = [line_no in objects, line_no in bad, line_no in parsed.blank_lines, torn]
        assert sum(kinds) == 1, (line_no, raw, kinds)
        if line_no in bad:
            assert bad[line_no] == raw
        if torn:
            assert parsed.torn_tail == raw and not ended
        if line_no in objects:
            assert objects[line_no] == _decode_all(raw)
            assert (len(objects[line_no]) > 1) == (line_no in parsed.joined_lines)
    last_kept = bool(segments) and len(segments) in objects
    assert parsed.missing_final_newline == (last_kept and not ended)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parse_never_raises_and_never_loses_a_byte_of_arbitrary_bytes(data: bytes) -> None:
    _assert_every_line_accounted_for(data)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_objects = st.dictionaries(st.sampled_from(["type", "id", "x", "é"]), _json_values, max_size=4)
_fragments = st.one_of(
    _objects.map(lambda o: json.dumps(o, ensure_ascii=False).encode()),
    st.just(b'{"type":"session","version":3,"id":"s"}'),
    st.binary(max_size=12),
    st.sampled_from([b"", b" ", b"\r", b"{", b"}", b"\xff", b"[]", b"null", b"NaN"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_fragments, min_size=1, max_size=3), max_size=8), st.booleans())
def test_parse_never_loses_a_byte_of_near_json_lines(
    lines: list[list[bytes]], newline: bool
) -> None:
    data = b"\n".join(b"".join(parts) for parts in lines) + (b"\n" if newline and lines else b"")
    _assert_every_line_accounted_for(data)


@settings(max_examples=200, deadline=None)
@given(_objects)
def test_every_object_reads_back_equal_after_dumps_line(obj: dict[str, Any]) -> None:
    parsed = parse_transcript(dumps_line(HEADER_V3) + dumps_line(obj))
    assert parsed.entries == (obj,)
