"""The Directory's session index and its batched flush, on a store in a temporary directory."""

from __future__ import annotations

import json

import pytest

from sessionward.actors.session_index import SessionIndex
from sessionward.errors import CorruptTranscriptError, InvalidSessionKeyError, PathEscapesStoreError
from sessionward.storage.store import SessionStore


@pytest.fixture
def store(tmp_path) -> SessionStore:
    return SessionStore(tmp_path)


def test_a_new_key_is_dirty_until_flushed_and_then_on_disk(store):
    index = SessionIndex.load(store)
    record, new = index.record("agent:main:a", 5.0)
    assert new and record.created_time == 5.0
    assert store.load_index() == {}
    index.flush()
    assert store.load_index() == {"agent:main:a": record}


def test_a_file_is_waiting_for_the_index_while_any_of_its_keys_is_unwritten(store):
    index = SessionIndex.load(store)
    index.record("agent:main:a", 5.0)
    index.flush()
    assert not index.is_dirty(["agent:main:a"])
    index.record("agent:main:b", 6.0)
    assert index.is_dirty(["agent:main:a", "agent:main:b"])
    index.flush()
    assert not index.is_dirty(["agent:main:a", "agent:main:b"])


def test_a_known_key_is_not_new(store):
    index = SessionIndex.load(store)
    first, _ = index.record("agent:main:a", 5.0)
    again, new = index.record("agent:main:a", 9.0)
    assert again == first and not new


def test_the_index_reloads_what_was_flushed(store):
    index = SessionIndex.load(store)
    record, _ = index.record("agent:main:a", 5.0)
    index.flush()
    reloaded = SessionIndex.load(store)
    assert reloaded.get("agent:main:a") == record and len(reloaded) == 1
    assert reloaded.keys_of(record.session_id) == ["agent:main:a"]
    assert not reloaded.may_create(record.session_id)  # named by the index: must exist


def test_one_flush_timer_is_asked_for_while_records_are_dirty(store):
    index = SessionIndex.load(store)
    assert not index.flush_due()  # nothing dirty
    index.record("agent:main:a", 1.0)
    assert index.flush_due()
    index.record("agent:main:b", 1.0)
    assert not index.flush_due()  # one is pending
    index.flush_timer_fired()
    index.flush()
    index.record("agent:main:c", 2.0)
    assert index.flush_due()


def test_a_failed_flush_keeps_the_records_dirty(store, monkeypatch):
    index = SessionIndex.load(store)
    record, _ = index.record("agent:main:a", 1.0)

    def fail(records):
        raise OSError("disk full")

    monkeypatch.setattr(store, "save", fail)
    with pytest.raises(OSError):
        index.flush()
    monkeypatch.undo()
    index.flush()
    assert store.load_index() == {"agent:main:a": record}


def test_a_new_key_may_create_its_transcript_until_its_owner_has_it(store):
    index = SessionIndex.load(store)
    record, _ = index.record("agent:main:a", 1.0)
    assert index.may_create(record.session_id)
    index.created(record.session_id)
    assert not index.may_create(record.session_id)
    index.allow_create(record.session_id)
    assert index.may_create(record.session_id)


def test_a_malformed_key_is_refused_and_not_recorded(store):
    index = SessionIndex.load(store)
    with pytest.raises(InvalidSessionKeyError):
        index.record("", 1.0)
    assert len(index) == 0 and not index.flush_due()


def test_a_binding_is_written_at_once_and_moves_the_key_between_files(store):
    index = SessionIndex.load(store)
    target, _ = index.record("agent:main:target", 1.0)
    old, _ = index.record("agent:main:alias", 1.0)
    bound = index.bind("agent:main:alias", target.session_id, 2.0)
    assert store.load_index()["agent:main:alias"] == bound  # no flush needed
    assert store.load_index()["agent:main:target"] == target  # the dirty records went with it
    assert index.keys_of(target.session_id) == ["agent:main:target", "agent:main:alias"]
    assert index.keys_of(old.session_id) == []


def test_a_binding_wins_over_a_dirty_record_of_the_same_key(store):
    index = SessionIndex.load(store)
    target, _ = index.record("agent:main:target", 1.0)
    index.record("agent:main:alias", 1.0)  # dirty, derived id
    index.bind("agent:main:alias", target.session_id, 2.0)
    assert store.load_index()["agent:main:alias"].session_id == target.session_id
    index.flush()  # nothing stale is left to overwrite it
    assert store.load_index()["agent:main:alias"].session_id == target.session_id


def test_an_unusable_record_refuses_its_own_key_and_stays_in_the_file_while_others_are_written(store):
    bad = {"agent:main:escapes": {"sessionId": "../../outside"}, "agent:main:garbled": ["not", "a", "record"]}
    store.index_path.write_text(json.dumps({**bad, "agent:main:a": {"sessionId": "id-a"}}))
    index = SessionIndex.load(store)
    assert index.get("agent:main:a").session_id == "id-a"
    with pytest.raises(PathEscapesStoreError, match="escapes"):
        index.record("agent:main:escapes", 5.0)
    with pytest.raises(CorruptTranscriptError, match="garbled"):
        index.record("agent:main:garbled", 5.0)
    index.record("agent:main:new", 5.0)
    index.flush()
    on_disk = json.loads(store.index_path.read_text())
    assert {k: on_disk[k] for k in bad} == bad  # a person may still mend them; nothing is lost
    assert set(store.load_index()) == {"agent:main:a", "agent:main:new"}
    mended = index.bind("agent:main:escapes", "id-a", 6.0)  # an admin's binding replaces it
    assert index.record("agent:main:escapes", 7.0) == (mended, False)
