"""pi's real transcripts through a runtime: migrated on first ownership, then a turn appended.

Each fixture (pi-mono's v1 files in the shared fixtures folder; see its SOURCES.md) is copied
into a fresh store as ``sessions/<id>.jsonl`` with an index entry, and one turn is submitted
through a ``Runtime``. What the file must hold afterwards is worked out here from the
fixture's bytes with plain ``json`` and pi's rules, not with the module that migrated it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from sessionward import Runtime, TurnOutcome, TurnStatus
from sessionward.hosting.system import process_group_members
from sessionward.providers.base import MessageEnd, TextDelta
from sessionward.storage.entries import TURN_END
from sessionward.storage.store import SessionRecord, SessionStore
from sessionward.storage.transcript_format import ParsedTranscript, build_context, parse_transcript

FIXTURES = Path(
    os.environ.get(
        "SESSIONWARD_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "transcripts",
    )
)
KEY = "agent:main:main"
SESSION_ID = "pi-fixture"
TEXT = "what changed since the last compaction?"
REPLY = "nothing, the context says so"
HEX8 = re.compile(r"[0-9a-f]{8}")

# From SOURCES.md: the line in each file where two JSON objects are joined with no newline,
# and the (type, role) of those two objects.
JOINED = {
    "pi-mono__compact.jsonl": (1013, [("message", "assistant"), ("compaction", None)]),
    "pi-mono__session.jsonl": (440, [("message", "assistant"), ("message", "user")]),
}
# Objects recovered from a joined line that migration leaves out, by their index among the
# file's objects (header 0): the compaction on compact.jsonl line 1013, whose
# firstKeptEntryIndex 1013 is itself (see docs/compat.md and transcript_format).
SET_ASIDE = {"pi-mono__compact.jsonl": {1013}}
TCP_FIXTURE = "pi-mono__session.jsonl"
"""The fixture that also runs on the multiprocess base (the smallest, with a joined line)."""


class ContextRecorder:
    """A provider that replies ``REPLY`` and appends what it was asked to a file.

    Picklable, and writes a file rather than keeping state, so it works in any actor process.
    """

    name = "recorder"
    supports_steering = False

    def __init__(self, record_file: str) -> None:
        self.record_file = record_file

    def stream(self, request, control):
        context = list(request.context)
        with open(self.record_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"turnId": request.turn_id, "contextLength": len(context),
                                "contextDigest": _digest(context)}) + "\n")
        yield TextDelta(REPLY)
        yield MessageEnd("stop")


def _digest(messages: Any) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- references


def _reference_objects(data: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    """Every JSON object in the file with its exact bytes, read with plain ``json``.

    A line holding two objects joined with no newline gives both.
    """
    decoder = json.JSONDecoder()
    found = []
    for raw in data.split(b"\n")[:-1]:
        text, pos = raw.decode("utf-8"), 0
        while pos < len(text):
            obj, end = decoder.raw_decode(text, pos)
            found.append((text[pos:end].encode("utf-8"), obj))
            pos = end
    return found


def _epoch_ms(timestamp: str) -> int:
    when = dt.datetime.fromisoformat(timestamp)
    return (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


def _reference_context(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pi's ``buildSessionContext`` on a v1 file, applied by index.

    A v1 file migrates to one linear chain, so the path to the leaf is every entry. With a
    compaction, only the last counts: its summary, then the entries from
    ``firstKeptEntryIndex`` (an index into the file, header included) up to the
    compaction, then everything after it. An index that does not point before the
    compaction keeps nothing (pi drops it, or it points at the compaction itself).
    """
    kinds = {e["type"] for e in entries}
    assert not kinds & {"custom_message", "branch_summary"}, "the reference covers only messages"

    def messages(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e["message"] for e in part if e["type"] == "message"]

    compactions = [i for i, e in enumerate(entries) if e["type"] == "compaction"]
    if not compactions:
        return messages(entries)
    at = compactions[-1]
    compaction = entries[at]
    summary = {"role": "compactionSummary", "summary": compaction["summary"],
               "tokensBefore": compaction["tokensBefore"], "timestamp": _epoch_ms(compaction["timestamp"])}
    first = compaction["firstKeptEntryIndex"]
    kept = entries[first - 1 : at] if 1 <= first <= at else []
    return [summary, *messages(kept), *messages(entries[at + 1 :])]


# --------------------------------------------------------------------------- one run per fixture


@attrs.frozen
class FixtureRun:
    """A fixture copied into a store and one turn run on it; everything the tests look at."""

    name: str
    base: str
    original: bytes
    """The fixture's bytes."""
    path: Path
    """The transcript in the store."""
    outcome: TurnOutcome
    after: ParsedTranscript
    """The transcript after the turn, read back."""
    asked: list[dict[str, Any]]
    """What the provider recorded, one record per stream."""
    side_files: list[str]
    """Every file beside the transcript, by name."""

    @property
    def reference(self) -> list[tuple[bytes, dict[str, Any]]]:
        return _reference_objects(self.original)

    @property
    def kept(self) -> list[tuple[bytes, dict[str, Any]]]:
        """``reference`` without the objects migration sets aside."""
        gone = SET_ASIDE.get(self.name, set())
        return [item for i, item in enumerate(self.reference) if i not in gone]


def _fixture_params() -> list[Any]:
    files = sorted(FIXTURES.glob("*.jsonl")) if FIXTURES.is_dir() else []
    if not files:
        reason = f"no transcript fixtures in {FIXTURES} (set SESSIONWARD_FIXTURES to their folder)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    params = [pytest.param((f, "simple"), id=f.name.removeprefix("pi-mono__")) for f in files]
    params += [pytest.param((f, "tcp"), id=f"{f.name.removeprefix('pi-mono__')}-tcp")
               for f in files if f.name == TCP_FIXTURE]
    return params


def _store_with(tmp: Path, data: bytes) -> SessionStore:
    """A fresh store whose index maps ``KEY`` to ``sessions/<SESSION_ID>.jsonl`` holding ``data``."""
    store = SessionStore(tmp / "store")
    (store.sessions_dir / f"{SESSION_ID}.jsonl").write_bytes(data)
    store.save({KEY: SessionRecord(KEY, SESSION_ID, 1.0, 1.0)})
    return store


def _run_turn(store: SessionStore, base: str, record_file: Path, text: str = TEXT) -> TurnOutcome:
    rt = Runtime(store.root, provider=ContextRecorder(str(record_file)), base=base, recovery=False)
    try:
        outcome = rt.submit(KEY, text, lane="direct:cli:test").result(timeout=60)
        assert Path(rt.session(KEY).file) == store.transcript_path(SESSION_ID)
        return outcome
    finally:
        rt.close()
        assert not process_group_members(rt._roots), "processes left behind"


@pytest.fixture(scope="module", params=_fixture_params())
def run(request, tmp_path_factory) -> FixtureRun:
    fixture, base = request.param
    original = fixture.read_bytes()
    tmp = tmp_path_factory.mktemp(fixture.stem[:40])
    store = _store_with(tmp, original)
    record_file = tmp / "asked.jsonl"
    outcome = _run_turn(store, base, record_file)
    path = store.transcript_path(SESSION_ID)
    return FixtureRun(
        name=fixture.name,
        base=base,
        original=original,
        path=path,
        outcome=outcome,
        after=parse_transcript(path.read_bytes()),
        asked=[json.loads(line) for line in record_file.read_text().splitlines()],
        side_files=sorted(p.name for p in path.parent.iterdir() if p != path),
    )


def _turn(run: FixtureRun) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the migrated fixture's entries, the turn's three entries)."""
    return list(run.after.entries[:-3]), list(run.after.entries[-3:])


# --------------------------------------------------------------------------- migration


def test_the_first_turn_migrates_the_fixture_to_version_3(run: FixtureRun) -> None:
    assert run.outcome.status is TurnStatus.COMPLETED, run.outcome
    original_header = run.reference[0][1]
    assert "version" not in original_header, "the fixtures are v1 files"
    assert run.after.header == {**original_header, "version": 3}
    assert run.after.version == 3


def test_the_original_bytes_are_kept_beside_the_migrated_file(run: FixtureRun) -> None:
    backups = [name for name in run.side_files if ".bak" in name]
    assert backups == [f"{SESSION_ID}.jsonl.v1.bak"]
    assert (run.path.parent / backups[0]).read_bytes() == run.original


def test_the_reloaded_file_holds_the_fixtures_entries_plus_three(run: FixtureRun) -> None:
    before = parse_transcript(run.original)
    set_aside = len(SET_ASIDE.get(run.name, ()))
    assert len(run.after.entries) == len(before.entries) - set_aside + 3
    assert len(run.after.entries) == len(run.kept) - 1 + 3  # the header is not an entry
    # Every entry now stands on its own line; only a set-aside object's line is quarantined.
    assert not run.after.bad_lines and not run.after.joined_lines and run.after.torn_tail is None
    assert run.after.line_count == 1 + len(run.after.entries)
    assert not [name for name in run.side_files if ".torn" in name]
    quarantined = [name for name in run.side_files if "quarantine" in name]
    assert len(quarantined) == (1 if set_aside else 0)
    if set_aside:
        records = [json.loads(line) for line in (run.path.parent / quarantined[0]).read_text().splitlines()]
        assert [(r["lineNo"], r["kind"]) for r in records] == [(1013, "unusable_compaction")]
        assert base64.b64decode(records[0]["rawBase64"]) == run.original.split(b"\n")[1012]


def test_the_joined_lines_are_recovered_as_two_entries_each(run: FixtureRun) -> None:
    before = parse_transcript(run.original)
    line, kinds = JOINED.get(run.name, (None, []))
    assert before.joined_lines == ((line,) if line else ())
    assert not before.bad_lines
    if line is None:
        return
    # The objects of the joined line are consecutive entries of the migrated file, but for
    # a compaction that is set aside (compact.jsonl): its message stays, chained on.
    at = before.entry_lines.index(line)
    migrated, _ = _turn(run)
    if run.name in SET_ASIDE:
        kinds = kinds[:1]
    pair = migrated[at : at + len(kinds)]
    assert [(e["type"], e.get("message", {}).get("role")) for e in pair] == kinds
    assert pair[-1]["parentId"] == migrated[at - 1 + len(kinds) - 1]["id"]
    if len(migrated) > at + len(kinds):
        assert migrated[at + len(kinds)]["parentId"] == pair[-1]["id"]


def test_every_entry_keeps_its_bytes_with_only_id_and_parent_id_added(run: FixtureRun) -> None:
    migrated, _ = _turn(run)
    lines = run.path.read_bytes().split(b"\n")[1 : 1 + len(migrated)]
    originals = run.kept[1:]
    assert len(originals) == len(migrated)
    for (raw, obj), line, entry in zip(originals, lines, migrated, strict=True):
        assert HEX8.fullmatch(entry["id"])
        if obj["type"] == "compaction":
            # The one rewrite: firstKeptEntryIndex becomes firstKeptEntryId (checked below).
            dropped = {k: v for k, v in obj.items() if k != "firstKeptEntryIndex"}
            assert {k: v for k, v in entry.items() if k not in ("id", "parentId", "firstKeptEntryId")} == dropped
            continue
        suffix = f',"id":"{entry["id"]}","parentId":{json.dumps(entry["parentId"])}}}'.encode()
        assert line == raw[:-1] + suffix, f"entry {entry['id']} ({obj['type']}) changed"


def test_the_migrated_entries_form_one_chain_and_compactions_point_at_their_kept_entry(run: FixtureRun) -> None:
    migrated, _ = _turn(run)
    assert len({e["id"] for e in run.after.entries}) == len(run.after.entries), "ids are unique"
    assert migrated[0]["parentId"] is None
    for prev, cur in itertools.pairwise(migrated):
        assert cur["parentId"] == prev["id"]
    originals = [obj for _, obj in run.kept[1:]]
    gone = SET_ASIDE.get(run.name, set())
    for original, entry in zip(originals, migrated, strict=True):
        if original["type"] != "compaction":
            continue
        index = original["firstKeptEntryIndex"]  # into the file's objects, header first
        assert index not in gone
        position = index - 1 - len([g for g in gone if g < index])
        assert 0 <= position < len(migrated)
        assert entry["firstKeptEntryId"] == migrated[position]["id"]


# --------------------------------------------------------------------------- the turn


def test_the_turn_appends_user_assistant_and_turn_end_chained_from_the_migrated_leaf(run: FixtureRun) -> None:
    migrated, (user, assistant, end) = _turn(run)
    assert user["type"] == "message" and user["message"]["role"] == "user"
    assert user["message"]["content"] == [{"type": "text", "text": TEXT}]
    assert assistant["type"] == "message" and assistant["message"]["role"] == "assistant"
    assert assistant["message"]["content"] == [{"type": "text", "text": REPLY}]
    assert end["type"] == "custom" and end["customType"] == TURN_END
    assert end["data"]["status"] == "completed"
    assert user["parentId"] == migrated[-1]["id"], "the turn continues from the migrated leaf"
    assert assistant["parentId"] == user["id"] and end["parentId"] == assistant["id"]
    assert {user["turnId"], assistant["turnId"], end["turnId"]} == {run.outcome.turn_id}
    assert run.outcome.reply == REPLY


def test_the_context_is_the_fixtures_context_followed_by_the_turns_two_messages(run: FixtureRun) -> None:
    migrated, (user, assistant, _) = _turn(run)
    expected = _reference_context([obj for _, obj in run.kept[1:]])
    assert list(build_context(migrated)) == expected
    assert list(build_context(run.after.entries)) == [*expected, user["message"], assistant["message"]]


def test_the_provider_was_asked_with_the_context_of_the_migrated_entries(run: FixtureRun) -> None:
    migrated, _ = _turn(run)
    context = build_context(migrated)
    assert len(run.asked) == 1
    asked = run.asked[0]
    assert asked["turnId"] == run.outcome.turn_id
    assert asked["contextLength"] == len(context)
    assert asked["contextDigest"] == _digest(context)


# --------------------------------------------------------------------------- beyond the fixtures

# Entries of types pi does not know, in the v1 shape (no id), written as JSON.stringify
# writes them: compact, key order as given, non-ASCII as is, a lone surrogate escaped, and
# numbers in JavaScript's layout (and one whole number beyond 2**53, kept as written).
UNKNOWN_LINES = [
    (
        b'{"type":"x-probe","timestamp":"2025-12-17T23:00:00.000Z","zeta":1,"alpha":[1.5,1e-7,100,-2],'
        b'"text":"\xc3\xa9 \xe2\x9c\x93 \xe2\x80\xa8 \\"q\\" \\\\ \\ud800","nested":{"k":null,"t":true}}'
    ),
    (
        b'{"type":"x-probe","timestamp":"2025-12-17T23:00:01.000Z","big":12345678901234567890,'
        b'"float":0.000015,"exp":1.5e+300,"empty":{},"list":[]}'
    ),
    (
        b'{"timestamp":"2025-12-17T23:00:02.000Z","type":"x-other",'
        b'"message":{"role":"user","content":"not a message entry"}}'
    ),
]


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {path} is absent (set SESSIONWARD_FIXTURES to the fixtures folder)")
    return path


def test_unknown_entry_types_round_trip_byte_for_byte_through_migration_and_a_turn(tmp_path) -> None:
    original = _fixture(TCP_FIXTURE).read_bytes() + b"\n".join(UNKNOWN_LINES) + b"\n"
    store = _store_with(tmp_path, original)
    outcome = _run_turn(store, "simple", tmp_path / "asked.jsonl")
    assert outcome.status is TurnStatus.COMPLETED
    path = store.transcript_path(SESSION_ID)
    after = parse_transcript(path.read_bytes())
    lines = path.read_bytes().split(b"\n")
    n = len(UNKNOWN_LINES)
    probes, (user, assistant, _) = list(after.entries[-3 - n : -3]), after.entries[-3:]
    for raw, line, entry in zip(UNKNOWN_LINES, lines[-4 - n : -4], probes, strict=True):
        assert line == raw[:-1] + f',"id":"{entry["id"]}","parentId":"{entry["parentId"]}"}}'.encode()
    assert user["parentId"] == probes[-1]["id"], "the turn continues from the last unknown entry"
    # Unknown types put nothing into the context.
    without = parse_transcript(_fixture(TCP_FIXTURE).read_bytes())
    assert len(build_context(after.entries)) == len(_reference_context(list(without.entries))) + 2
    assert build_context(after.entries)[-2:] == (user["message"], assistant["message"])


def test_a_migrated_file_is_only_appended_to_when_a_second_runtime_owns_it(tmp_path) -> None:
    store = _store_with(tmp_path, _fixture(TCP_FIXTURE).read_bytes())
    # The first runtime is a multiprocess one: its owner process ends at close, and with it
    # the file's lock (a simple-base runtime keeps the owner's descriptors open after close).
    _run_turn(store, "tcp", tmp_path / "asked.jsonl", text="first")
    path = store.transcript_path(SESSION_ID)
    first = path.read_bytes()
    outcome = _run_turn(store, "simple", tmp_path / "asked.jsonl", text="second")
    assert outcome.status is TurnStatus.COMPLETED
    second = path.read_bytes()
    assert second.startswith(first), "a v3 file is never rewritten"
    assert sorted(p.name for p in path.parent.glob("*.bak*")) == [f"{SESSION_ID}.jsonl.v1.bak"]
    before, entries = parse_transcript(first).entries, parse_transcript(second).entries
    assert len(entries) == len(before) + 3
    assert entries[-3]["parentId"] == before[-1]["id"], "the second turn follows the first's end"
    texts = [m["content"][0]["text"] for m in build_context(entries)[-4:]]
    assert texts == ["first", REPLY, "second", REPLY]
