"""A transcript the index names is never replaced silently; a new key's entry is durable.

Issue 14: after another tool archived a session's JSONL file, sessionward used to start a
new, empty transcript for the same key (its model got no context). And with base
``simple``, closing a runtime within the index flush delay of a new key's first turn lost
that key's ``sessions.json`` entry.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import wait_for

from sessionward import OutcomeReason, RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.errors import SessionwardTimeoutError, TranscriptMissingError
from sessionward.storage.store import SessionRecord, SessionStore
from sessionward.storage.transcript import TranscriptFile

KEY = "agent:main:main"
SESSION_ID = "archived-session"


def _store_naming_a_missing_file(root: Path) -> SessionStore:
    store = SessionStore(root)
    store.save({KEY: SessionRecord(KEY, SESSION_ID, 1.0, 1.0)})
    return store


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the store but the runtime's own log and store claim (``sessionward.*``)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith("sessionward.")}


def test_opening_a_missing_transcript_without_create_raises_and_creates_nothing(tmp_path):
    path = tmp_path / "gone.jsonl"
    with pytest.raises(TranscriptMissingError, match=r"gone\.jsonl is missing"):
        TranscriptFile.open(path, header={"type": "session"}, create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_transcript_fails_its_turns_with_a_typed_reason_and_creates_nothing(make_runtime, base, tmp_path):
    root = tmp_path / "store"
    store = _store_naming_a_missing_file(root)
    expected_at = store.transcript_path(SESSION_ID)
    before = _snapshot(root)
    rt = make_runtime(root, base=base, provider=ScriptedProvider(reply="hi"))
    outcome = rt.submit(KEY, "hello").result(timeout=30)
    assert outcome.status is TurnStatus.FAILED
    assert outcome.reason is OutcomeReason.TRANSCRIPT_MISSING
    assert f"expected at {expected_at}" in outcome.detail
    again = rt.submit(KEY, "hello again").result(timeout=30)
    assert again.reason is OutcomeReason.TRANSCRIPT_MISSING
    # the session view says where the file was expected, without starting an owner
    state = rt.session(KEY)
    assert (state.state, state.file) == ("missing", str(expected_at))
    assert _snapshot(root) == before, "nothing was created or changed"
    assert f"expected at {expected_at}" in (root / "sessionward.log").read_text()


def test_only_an_explicit_new_transcript_starts_a_new_file(make_runtime, tmp_path):
    root = tmp_path / "store"
    store = _store_naming_a_missing_file(root)
    rt = make_runtime(root, provider=ScriptedProvider(reply="fresh start"))
    assert rt.submit(KEY, "hello").result(timeout=30).reason is OutcomeReason.TRANSCRIPT_MISSING
    assert not rt.new_transcript("agent:main:unknown").ok
    result = rt.new_transcript(KEY)
    assert result.ok and str(store.transcript_path(SESSION_ID)) in result.detail
    outcome = rt.submit(KEY, "hello").result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED and outcome.reply == "fresh start"
    header = json.loads(store.transcript_path(SESSION_ID).read_bytes().split(b"\n")[0])
    assert (header["type"], header["id"]) == ("session", SESSION_ID)
    refused = rt.new_transcript(KEY)
    assert not refused.ok and "exists" in refused.detail


def test_the_create_missing_transcripts_option_starts_a_new_file(make_runtime, tmp_path):
    root = tmp_path / "store"
    store = _store_naming_a_missing_file(root)
    rt = make_runtime(root, provider=ScriptedProvider(reply="ok"),
                      config=RuntimeConfig(create_missing_transcripts=True))
    assert rt.submit(KEY, "hello").result(timeout=30).status is TurnStatus.COMPLETED
    assert store.transcript_path(SESSION_ID).is_file()


def test_a_transcript_removed_while_the_runtime_runs_is_not_recreated(make_runtime, tmp_path):
    root = tmp_path / "store"
    rt = make_runtime(root, provider=ScriptedProvider(reply="ok"), config=RuntimeConfig(idle_timeout=0.05))
    first = rt.submit(KEY, "hello").result(timeout=30)
    assert first.status is TurnStatus.COMPLETED
    path = Path(rt.session(KEY).file)
    # wait (by polling the Directory's view, not by sleeping) until the idle owner is gone
    deadline = time.monotonic() + 30
    while rt.session(KEY).state != "passive":
        if time.monotonic() > deadline:
            pytest.fail("the owner did not passivate within 30 s")
    path.unlink()
    outcome = rt.submit(KEY, "hello again").result(timeout=30)
    assert outcome.reason is OutcomeReason.TRANSCRIPT_MISSING
    assert not path.exists()


def test_a_new_keys_index_entry_is_on_disk_when_its_first_outcome_arrives(make_runtime, base, tmp_path):
    root = tmp_path / "store"
    rt = make_runtime(root, base=base, provider=ScriptedProvider(reply="ok"))
    for n in range(3):
        key = f"agent:main:new{n}"
        assert rt.submit(key, "hi").result(timeout=30).status is TurnStatus.COMPLETED
        # read at once: no flush delay may pass between the outcome and this read
        assert key in json.loads((root / "sessions.json").read_bytes()), f"{key} is not in sessions.json yet"
    rt.close()
    assert len(SessionStore(root).load_index()) == 3


def test_a_new_key_is_accepted_while_its_index_entry_is_written_and_answered_after(make_runtime, tmp_path,
                                                                                    monkeypatch):
    # The Directory's index write for this key waits until the test makes a file (at most
    # 60 s): a disk that is slow just then. The Directory runs in a forked process, which
    # inherits the patched method.
    go = tmp_path / "index-write-may-go"
    key = "agent:main:slowindex"
    save = SessionStore.save

    def slow_save(self, records, *args, **kwargs):
        deadline = time.monotonic() + 60
        while key in records and not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # in the Directory's process: the test has no way to signal it
        return save(self, records, *args, **kwargs)

    monkeypatch.setattr(SessionStore, "save", slow_save)
    root = tmp_path / "store"
    rt = make_runtime(root, base="tcp", provider=ScriptedProvider(reply="ok"))
    # One turn first, so that a spare owner is ready: while the write below holds the
    # Directory, it cannot take the factory's answer for an owner that is not. A runtime's
    # first activation can wait for the factory's first fork (on CPython 3.12, ~120 ms
    # more while the factory makes its heap immortal: hosting/immortal_heap.py).
    assert rt.submit("agent:main:first", "hi").result(timeout=30).status is TurnStatus.COMPLETED
    handle = rt.submit(key, "hi")
    try:
        assert handle.wait_accepted(30), "the turn was not accepted while the index was being written"
        assert key not in SessionStore(root).load_index()  # accepted before its entry was written
        with pytest.raises(SessionwardTimeoutError):
            handle.result(timeout=1.0)  # its outcome waits for the entry (a check that it is held)
    finally:
        go.touch()
    assert handle.result(timeout=30).status is TurnStatus.COMPLETED
    assert key in json.loads((root / "sessions.json").read_bytes()), "the outcome came before the entry"


def test_a_failed_index_write_does_not_keep_the_outcome_from_its_submitter(make_runtime, tmp_path, monkeypatch):
    # The Directory's writes of this key fail until the test makes a file (the patched
    # method is inherited by the forked Directory); it logs and retries on its flush timer.
    key = "agent:main:indexfails"
    disk_back = tmp_path / "disk-back"
    save = SessionStore.save

    def failing(self, records, *args, **kwargs):
        if key in records and not disk_back.exists():
            raise OSError(28, "No space left on device")
        return save(self, records, *args, **kwargs)

    monkeypatch.setattr(SessionStore, "save", failing)
    root = tmp_path / "store"
    rt = make_runtime(root, base="tcp", provider=ScriptedProvider(reply="ok"))
    assert rt.submit(key, "hi").result(timeout=30).status is TurnStatus.COMPLETED
    assert key not in SessionStore(root).load_index()  # the outcome came while the write failed
    disk_back.touch()
    wait_for(lambda: key in SessionStore(root).load_index(), 30, "the key written by a retry")
