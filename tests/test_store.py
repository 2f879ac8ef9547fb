"""The store directory and its sessions.json index."""

import json
import os

import pytest

from sessionward.errors import CorruptTranscriptError, PathEscapesStoreError
from sessionward.storage.store import SessionRecord, SessionStore, derived_session_id


def test_a_new_key_gets_a_stable_derived_id(tmp_path):
    store = SessionStore(tmp_path)
    record = store.resolve("agent:main:main", {}, now=1.0)
    assert record.session_id == derived_session_id("agent:main:main")
    assert store.resolve("agent:main:main", {}, now=2.0).session_id == record.session_id


def test_saving_merges_with_what_another_writer_saved(tmp_path):
    one, two = SessionStore(tmp_path), SessionStore(tmp_path)
    one.save({"agent:main:a": SessionRecord("agent:main:a", "id-a", 1.0, 1.0)})
    two.save({"agent:main:b": SessionRecord("agent:main:b", "id-b", 2.0, 2.0)})
    index = SessionStore(tmp_path).load_index()
    assert set(index) == {"agent:main:a", "agent:main:b"}
    data = json.loads((tmp_path / "sessions.json").read_text())
    assert data["agent:main:b"]["sessionFile"] == "sessions/id-b.jsonl"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_symlink_out_of_the_store_is_refused(tmp_path):
    store = SessionStore(tmp_path / "store")
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (store.sessions_dir / "evil.jsonl").symlink_to(outside)
    with pytest.raises(PathEscapesStoreError):
        store.transcript_path("evil")


def test_an_unreadable_index_is_a_typed_error(tmp_path):
    store = SessionStore(tmp_path)
    store.index_path.write_text("[1, 2")
    with pytest.raises(CorruptTranscriptError):
        store.load_index()


def test_saving_over_a_corrupt_index_keeps_the_corrupt_bytes(tmp_path):
    store = SessionStore(tmp_path)
    store.index_path.write_text("not json")
    store.save({"agent:main:a": SessionRecord("agent:main:a", "id-a", 1.0, 1.0)})
    assert (tmp_path / "sessions.json.corrupt").read_text() == "not json"
    assert "agent:main:a" in store.load_index()


def test_saving_the_index_leaves_no_lock_file_in_the_store(tmp_path):
    store = SessionStore(tmp_path / "store")
    store.save({"agent:main:main": store.resolve("agent:main:main", {}, now=1.0)})
    assert sorted(p.name for p in store.root.iterdir()) == ["sessions", "sessions.json"]
    assert list(store.sessions_dir.iterdir()) == []
