"""The index journal's record format, replay, merge and compaction policy (pure), and the
store's journal on disk: a big index gets appends, readers see every session."""

import json

import pytest

from sessionward.storage.files import append_lines
from sessionward.storage.index_files import index_document
from sessionward.storage.index_journal import (
    CompactionPolicy,
    SaveAction,
    apply,
    encode_record,
    encode_records,
    parse_journal,
    plan_save,
)
from sessionward.storage.store import SessionRecord, SessionStore

ENTRY = {"sessionId": "s1", "sessionFile": "sessions/s1.jsonl", "createdTime": 1.0, "updatedTime": 2.0}


def test_a_record_is_one_json_line_of_the_key_and_its_index_entry():
    line = encode_record("agent:main:x", ENTRY)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"key": "agent:main:x", **ENTRY}


def test_records_read_back_as_each_keys_latest_entry():
    data = encode_records({"agent:main:a": ENTRY, "agent:main:b": {**ENTRY, "sessionId": "s2"}})
    data += encode_record("agent:main:a", {**ENTRY, "sessionId": "s3"})
    replay = parse_journal(data)
    assert replay.entries == {"agent:main:a": {**ENTRY, "sessionId": "s3"},
                              "agent:main:b": {**ENTRY, "sessionId": "s2"}}
    assert (replay.records, replay.bad_lines, replay.torn_tail) == (3, 0, False)


def test_a_torn_last_line_is_skipped_even_when_it_parses():
    whole = encode_record("agent:main:a", ENTRY)
    cut = encode_record("agent:main:b", ENTRY)[:-1]  # all but the newline: not fsynced whole
    replay = parse_journal(whole + cut)
    assert set(replay.entries) == {"agent:main:a"}
    assert replay.torn_tail and replay.bad_lines == 0


def test_a_bad_line_in_the_middle_is_skipped_and_counted():
    data = (encode_record("agent:main:a", ENTRY) + b'{"key": "agent:main:b", "sessionI\n'
            + b'{"key": 3, "sessionId": "x"}\n[1]\n' + encode_record("agent:main:c", ENTRY))
    replay = parse_journal(data)
    assert set(replay.entries) == {"agent:main:a", "agent:main:c"}
    assert replay.bad_lines == 3


def test_an_empty_journal_holds_nothing():
    assert parse_journal(b"") .entries == {}
    assert not parse_journal(b"").torn_tail


def test_an_entry_cannot_carry_a_field_named_key():
    with pytest.raises(ValueError):
        encode_record("agent:main:a", {**ENTRY, "key": "other"})


def test_journal_entries_win_over_the_index_document_and_the_document_is_not_changed():
    document = {"agent:main:a": ENTRY, "agent:main:b": ENTRY}
    merged = apply(document, {"agent:main:a": {**ENTRY, "sessionId": "s9"}, "agent:main:c": ENTRY})
    assert merged == {"agent:main:a": {**ENTRY, "sessionId": "s9"}, "agent:main:b": ENTRY, "agent:main:c": ENTRY}
    assert document["agent:main:a"] is ENTRY


def test_an_append_after_a_cut_line_ends_that_line_first(tmp_path):
    journal = tmp_path / "j"
    assert append_lines(journal, b"{}\n") == 0  # new: its name wants a directory fsync
    journal.write_bytes(b'{"cut')
    assert append_lines(journal, b"{}\n") == 5
    assert journal.read_bytes() == b'{"cut\n{}\n'


def test_a_small_index_is_rewritten_on_every_save():
    policy = CompactionPolicy(rewrite_below=1000, journal_share=0.25)
    assert plan_save(index_bytes=500, journal_bytes=0, adding_bytes=100, policy=policy) is SaveAction.REWRITE
    assert plan_save(index_bytes=0, journal_bytes=0, adding_bytes=100, policy=policy) is SaveAction.REWRITE


def test_a_big_index_gets_appends_until_the_journal_reaches_its_share():
    policy = CompactionPolicy(rewrite_below=1000, journal_share=0.25)
    assert plan_save(index_bytes=100_000, journal_bytes=0, adding_bytes=100, policy=policy) is SaveAction.APPEND
    assert plan_save(index_bytes=100_000, journal_bytes=24_800, adding_bytes=100,
                     policy=policy) is SaveAction.APPEND
    assert plan_save(index_bytes=100_000, journal_bytes=24_950, adding_bytes=100,
                     policy=policy) is SaveAction.APPEND_THEN_COMPACT


def test_a_leftover_journal_on_a_small_index_is_folded_in_by_the_next_save():
    policy = CompactionPolicy(rewrite_below=1000, journal_share=0.25)
    assert plan_save(index_bytes=200, journal_bytes=300, adding_bytes=100, policy=policy) is SaveAction.REWRITE


# -- the store's journal on disk ------------------------------------------------------------


def _journalling_store(root) -> SessionStore:
    """A store whose saves append (as a big index's do): its policy never compacts."""
    store = SessionStore(root)
    if not store.index_path.exists():
        store.index_path.write_text("{}")
    store.compaction = CompactionPolicy(rewrite_below=0, journal_share=1e9)
    return store


def _record(key: str, session_id: str, t: float = 1.0) -> SessionRecord:
    return SessionRecord(key, session_id, t, t)


def test_a_save_over_a_big_index_appends_and_every_reader_sees_the_new_key(tmp_path):
    store = SessionStore(tmp_path)
    store.save({"agent:main:a": _record("agent:main:a", "id-a")})
    before = store.index_path.read_bytes()
    big = _journalling_store(tmp_path)
    big.save({"agent:main:b": _record("agent:main:b", "id-b")})
    assert store.index_path.read_bytes() == before  # not rewritten
    assert set(SessionStore(tmp_path).load_index()) == {"agent:main:a", "agent:main:b"}
    assert index_document(tmp_path)["agent:main:b"]["sessionFile"] == "sessions/id-b.jsonl"


def test_compaction_folds_the_journal_into_sessions_json_and_removes_it(tmp_path):
    store = _journalling_store(tmp_path)
    store.save({"agent:main:a": _record("agent:main:a", "id-a")})
    store.save({"agent:main:a": _record("agent:main:a", "id-a2", 2.0), "agent:main:b": _record("agent:main:b", "id-b")})
    assert store.journal_path.exists()
    store.compact()
    assert not store.journal_path.exists()
    data = json.loads(store.index_path.read_text())
    assert {k: v["sessionId"] for k, v in data.items()} == {"agent:main:a": "id-a2", "agent:main:b": "id-b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sessions", "sessions.json"]


def test_the_journal_reaching_its_share_is_compacted_by_the_save_that_reaches_it(tmp_path):
    store = SessionStore(tmp_path)
    store.compaction = CompactionPolicy(rewrite_below=0, journal_share=0.5)
    store.save({"agent:main:a": _record("agent:main:a", "id-a")})  # no index yet: compacted at once
    assert not store.journal_path.exists()
    assert "agent:main:a" in json.loads(store.index_path.read_text())


def test_a_crash_between_compaction_and_removing_the_journal_changes_nothing(tmp_path):
    store = _journalling_store(tmp_path)
    store.save({"agent:main:a": _record("agent:main:a", "id-a")})
    journal = store.journal_path.read_bytes()
    store.compact()
    store.journal_path.write_bytes(journal)  # as if the unlink never happened
    assert {k: r.session_id for k, r in store.load_index().items()} == {"agent:main:a": "id-a"}


def test_a_torn_journal_tail_is_skipped_and_the_next_save_is_read_whole(tmp_path):
    store = _journalling_store(tmp_path)
    store.save({"agent:main:a": _record("agent:main:a", "id-a")})
    with open(store.journal_path, "ab") as f:
        f.write(b'{"key": "agent:main:torn", "sessionId": "id-t"')  # a crash mid-append
    assert set(store.load_index()) == {"agent:main:a"}
    store.save({"agent:main:b": _record("agent:main:b", "id-b")})
    assert set(store.load_index()) == {"agent:main:a", "agent:main:b"}


def test_two_writers_journalling_one_store_lose_nothing(tmp_path):
    one, two = _journalling_store(tmp_path), _journalling_store(tmp_path)
    for i in range(20):
        (one if i % 2 else two).save({f"agent:main:k{i}": _record(f"agent:main:k{i}", f"id-{i}")})
    one.compact()
    two.save({"agent:main:last": _record("agent:main:last", "id-last")})
    assert len(SessionStore(tmp_path).load_index()) == 21


def test_a_corrupt_sessions_json_is_kept_aside_at_compaction_and_the_journal_survives(tmp_path):
    store = _journalling_store(tmp_path)
    store.index_path.write_text("not json")
    store.save({"agent:main:a": _record("agent:main:a", "id-a")})
    store.compact()
    assert (tmp_path / "sessions.json.corrupt").read_text() == "not json"
    assert set(store.load_index()) == {"agent:main:a"}


# -- through a runtime --------------------------------------------------------------------------


def test_a_runtime_on_a_big_index_journals_new_keys_and_folds_them_in_when_it_closes(
        make_runtime, base, tmp_path, monkeypatch):
    from sessionward import ScriptedProvider, TurnStatus

    root = tmp_path / "store"
    SessionStore(root).index_path.write_text("{}")
    # Every save appends, as over a big index. Actor processes are forked from this one
    # (tcp) or run in it (simple), so they all get the policy.
    monkeypatch.setattr(SessionStore, "compaction", CompactionPolicy(rewrite_below=0, journal_share=1e9))
    rt = make_runtime(root, base=base, provider=ScriptedProvider(reply="ok"))
    keys = [f"agent:main:new{n}" for n in range(3)]
    for key in keys:
        assert rt.submit(key, "hi").result(timeout=30).status is TurnStatus.COMPLETED
        # read at once: the entry is durable before the first outcome, in the journal
        assert key in SessionStore(root).load_index()
    assert json.loads((root / "sessions.json").read_text()) == {}
    assert (root / "sessions.json.journal").exists()
    rt.close()
    assert not (root / "sessions.json.journal").exists()
    assert set(json.loads((root / "sessions.json").read_text())) == set(keys)
