"""An openclaw state directory used as a sessionward store, end to end and store alone.

The state directory is built here as openclaw leaves it: ``agents/<agent>/sessions/`` with a
``sessions.json`` written as openclaw writes it (``JSON.stringify(store, null, 2)``, no final
newline) and, for one key, one of pi's real v1 transcripts from the shared fixtures folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_entries

from sessionward import (
    CoordinationError,
    CorruptTranscriptError,
    InvalidSessionKeyError,
    OpenclawStateNotSupportedError,
    OutcomeReason,
    PathEscapesStoreError,
    ScriptedProvider,
    TurnStatus,
)
from sessionward.storage.openclaw_store import read_agent_index
from sessionward.storage.store import OpenclawSessionStore, SessionRecord, SessionStore, derived_session_id
from sessionward.storage.transcript_format import parse_transcript

FIXTURES = Path(
    os.environ.get(
        "SESSIONWARD_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "transcripts",
    )
)
FIXTURE = "pi-mono__session.jsonl"
MAIN = "agent:main:main"
MAIN_ID = "5fd1e58c-9635-410e-a644-133a96057c90"
"""The fixture's own session id (its header's ``id``)."""
MAIN_FILE = f"{MAIN_ID}-topic-7.jsonl"
"""Not ``<sessionId>.jsonl``: the key runs on the file the index names, as openclaw's do."""
CHANNEL = "agent:main:discord:channel:123"
CHANNEL_ID = "b0b0b0b0-0000-4000-8000-000000000009"
CHANNEL_FILE = f"{CHANNEL_ID}-topic-9.jsonl"
NEW = "agent:main:telegram:dm:42"

# What openclaw writes: two-space JSON, its fields in its order, numbers in JavaScript's
# layout, non-ASCII as is, and no final newline. ``{main_file}`` is an absolute path (older
# openclaw versions wrote those); the other sessionFile is relative (newer ones).
INDEX = r"""{
  "agent:main:main": {
    "sessionId": "5fd1e58c-9635-410e-a644-133a96057c90",
    "updatedAt": 1772978822268,
    "sessionFile": {main_file},
    "chatType": "direct",
    "origin": {
      "label": "heartbeat",
      "provider": "webchat"
    },
    "inputTokens": 0,
    "cost": 0.000015,
    "skillsSnapshot": {
      "prompt": "<skills>\n</skills>",
      "skills": []
    }
  },
  "main": {
    "sessionId": "legacy-main",
    "updatedAt": 1
  },
  "agent:main:discord:channel:123": {
    "sessionId": "b0b0b0b0-0000-4000-8000-000000000009",
    "sessionFile": "b0b0b0b0-0000-4000-8000-000000000009-topic-9.jsonl",
    "displayName": "général ✓",
    "updatedAt": 1772978822000
  },
  "agent:main:cron:nightly": {
    "sessionId": "nightly"
  }
}"""
OTHER_AGENT_INDEX = '{\n  "agent:work:main": {\n    "sessionId": "w-1"\n  }\n}'


def _state(tmp_path: Path, *, with_fixture: bool = False) -> Path:
    """A state directory with agents ``main`` (the index above) and ``work``."""
    state = tmp_path.resolve() / "openclaw-state"
    sessions = state / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    index = INDEX.replace("{main_file}", json.dumps(str(sessions / MAIN_FILE)))
    (sessions / "sessions.json").write_text(index, encoding="utf-8")
    work = state / "agents" / "work" / "sessions"
    work.mkdir(parents=True)
    (work / "sessions.json").write_text(OTHER_AGENT_INDEX, encoding="utf-8")
    if with_fixture:
        fixture = FIXTURES / FIXTURE
        if not fixture.is_file():
            pytest.skip(f"fixture {fixture} is absent (set SESSIONWARD_FIXTURES to the fixtures folder)")
        (sessions / MAIN_FILE).write_bytes(fixture.read_bytes())
    return state


def _sessions(state: Path, agent: str = "main") -> Path:
    return state / "agents" / agent / "sessions"


# --------------------------------------------------------------------------- through a runtime


def test_a_key_in_the_openclaw_index_runs_on_the_transcript_openclaw_named(make_runtime, base, tmp_path):
    state = _state(tmp_path, with_fixture=True)
    path = _sessions(state) / MAIN_FILE
    original = path.read_bytes()
    rt = make_runtime(state, base=base, openclaw_agent="main", provider=ScriptedProvider(reply="seen {text}"))
    outcome = rt.submit(MAIN, "hello from sessionward").result(timeout=60)
    assert outcome.status is TurnStatus.COMPLETED, outcome
    assert outcome.reply == "seen hello from sessionward"
    assert Path(rt.session(MAIN).file) == path
    # the store claim, beside the other side files
    assert (state / "agents" / "main" / "sessionward" / "sessionward.system.json").is_file()
    rt.close()
    # Migrated on first ownership, the original kept in sessionward's side folder, and one
    # turn appended. openclaw's sessions/ holds only what it held before, and the file.
    after = read_entries(path)
    assert after[0] == {**json.loads(original.split(b"\n", 1)[0]), "version": 3}
    assert after[0]["id"] == MAIN_ID
    side = state / "agents" / "main" / "sessionward"
    assert (side / f"{MAIN_FILE}.v1.bak").read_bytes() == original
    assert (side / f"{MAIN_FILE}.inbox").is_file() and (side / "sessionward.log").is_file()
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith((".bak", ".inbox", ".log", ".torn"))
                or ".quarantine" in p.name or p.name.startswith("sessionward.")]
    assert not list(side.glob("*.lock")), "a lock file was left behind"
    assert len(after) - 1 == len(parse_transcript(original).entries) + 3
    assert [e["message"]["role"] for e in after[-3:-1]] == ["user", "assistant"]
    assert after[-3]["parentId"] == after[-4]["id"]


def test_a_key_whose_named_file_is_missing_fails_until_a_new_transcript_is_allowed(make_runtime, tmp_path):
    state = _state(tmp_path)
    rt = make_runtime(state, openclaw_agent="main")
    path = _sessions(state) / CHANNEL_FILE
    missing = rt.submit(CHANNEL, "first words").result(timeout=30)
    assert missing.reason is OutcomeReason.TRANSCRIPT_MISSING and str(path) in missing.detail
    assert not path.exists()
    # then, explicitly: the new file gets openclaw's session id
    assert rt.new_transcript(CHANNEL).ok
    assert rt.submit(CHANNEL, "first words").result(timeout=30).status is TurnStatus.COMPLETED
    assert Path(rt.session(CHANNEL).file) == path
    entries = read_entries(path)
    assert entries[0]["type"] == "session" and entries[0]["version"] == 3
    assert entries[0]["id"] == CHANNEL_ID
    assert not (_sessions(state) / f"{CHANNEL_ID}.jsonl").exists()


def test_a_new_key_gets_a_file_beside_openclaws_and_an_entry_in_openclaws_format(make_runtime, tmp_path):
    state = _state(tmp_path)
    index = _sessions(state) / "sessions.json"
    before = index.read_text(encoding="utf-8")
    work_before = (_sessions(state, "work") / "sessions.json").read_bytes()
    # On the multiprocess base: there the Directory gets its exit request at close and
    # flushes its batched index writes (a simple-base system never runs that last message).
    rt = make_runtime(state, base="tcp", openclaw_agent="main")
    started = time.time()
    assert rt.submit(NEW, "hi").result(timeout=30).status is TurnStatus.COMPLETED
    new_id = derived_session_id(NEW)
    assert Path(rt.session(NEW).file) == _sessions(state) / f"{new_id}.jsonl"
    rt.close()  # flushes the Directory's batched index writes
    after = index.read_text(encoding="utf-8")
    # Every byte openclaw wrote is still there; the new entry follows, in openclaw's shape.
    assert after.startswith(before.removesuffix("\n}"))
    data = json.loads(after)
    assert list(data) == [*json.loads(before), NEW]
    assert set(data[NEW]) == {"sessionId", "updatedAt"}
    assert data[NEW]["sessionId"] == new_id
    assert started * 1000 - 1000 <= data[NEW]["updatedAt"] <= time.time() * 1000
    assert after == OpenclawSessionStore(state).index_path.read_text(encoding="utf-8")
    # openclaw's reader takes the rewritten index, and finds the new key's file.
    found = {s.session_key: s.file for s in read_agent_index("main", index)}
    assert found[NEW] == _sessions(state) / f"{new_id}.jsonl"
    assert oct(index.stat().st_mode & 0o777) == oct(0o600)
    # No lock file is left to hold openclaw up, and the other agent's index is untouched.
    assert not (_sessions(state) / "sessions.json.lock").exists()
    assert (_sessions(state, "work") / "sessions.json").read_bytes() == work_before


def test_a_key_of_another_agent_is_refused_and_not_written(make_runtime, tmp_path):
    state = _state(tmp_path)
    rt = make_runtime(state, base="tcp", openclaw_agent="main")  # flushes the index at close
    with pytest.raises(InvalidSessionKeyError, match="another agent"):
        rt.submit("agent:work:main", "not yours").result(timeout=30)
    assert rt.submit(NEW, "mine").result(timeout=30).status is TurnStatus.COMPLETED
    rt.close()
    keys = json.loads((_sessions(state) / "sessions.json").read_text(encoding="utf-8"))
    assert NEW in keys and "agent:work:main" not in keys
    assert [p.name for p in _sessions(state).glob("*.jsonl")] == [f"{derived_session_id(NEW)}.jsonl"]
    assert json.loads((_sessions(state, "work") / "sessions.json").read_text()) == json.loads(OTHER_AGENT_INDEX)


def test_an_index_path_leaving_the_sessions_directory_is_refused_before_anything_starts(make_runtime, tmp_path):
    state = _state(tmp_path)
    index = _sessions(state) / "sessions.json"
    data = json.loads(index.read_text(encoding="utf-8"))
    data[CHANNEL]["sessionFile"] = "../../work/sessions/stolen.jsonl"
    index.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PathEscapesStoreError, match="outside"):
        make_runtime(state, openclaw_agent="main")
    assert not (_sessions(state, "work") / "stolen.jsonl").exists()
    assert not (_sessions(state) / "sessionward.log").exists(), "no actor system was started"


# --------------------------------------------------------------------------- the store alone


def test_the_store_maps_each_key_to_the_file_its_index_names(tmp_path):
    state = _state(tmp_path)
    store = SessionStore.openclaw(state, agent="main")
    sessions = _sessions(state)
    assert store.root == store.sessions_dir == sessions
    index = store.load_index()
    assert set(index) == {MAIN, "main", CHANNEL, "agent:main:cron:nightly"}
    assert index[MAIN].session_id == MAIN_ID and index[MAIN].updated_time == 1772978822.268
    assert store.transcript_path(MAIN_ID) == sessions / MAIN_FILE
    assert store.transcript_path(CHANNEL_ID) == sessions / CHANNEL_FILE
    assert store.transcript_path("nightly") == sessions / "nightly.jsonl"
    assert store.transcript_path("unknown-id") == sessions / "unknown-id.jsonl"
    with pytest.raises(PathEscapesStoreError):
        store.transcript_path("../escape")


def test_the_store_travels_to_the_directory_as_its_locator(tmp_path):
    state = _state(tmp_path)
    store = SessionStore.openclaw(state, agent="main")
    again = SessionStore.from_locator(store.locator)
    assert isinstance(again, OpenclawSessionStore)
    assert (again.root, again.agent, again.state_dir) == (store.root, "main", state)
    plain = SessionStore(tmp_path / "plain")
    assert type(SessionStore.from_locator(plain.locator)) is SessionStore
    assert SessionStore.from_locator(plain.locator).root == plain.root


def test_a_rebound_key_gets_the_new_session_id_and_keeps_its_other_fields(tmp_path):
    state = _state(tmp_path)
    store = SessionStore.openclaw(state, agent="main")
    store.load_index()
    store.save({CHANNEL: SessionRecord(CHANNEL, MAIN_ID, 5.0, 5.0),
                MAIN: SessionRecord(MAIN, MAIN_ID, 5.0, 5.0)})  # MAIN: unchanged, left alone
    data = json.loads(store.index_path.read_text(encoding="utf-8"))
    assert data[CHANNEL] == {"sessionId": MAIN_ID, "displayName": "général ✓",
                             "updatedAt": 1772978822000, "sessionFile": MAIN_FILE}
    assert data[MAIN]["updatedAt"] == 1772978822268
    assert list(data) == [MAIN, "main", CHANNEL, "agent:main:cron:nightly"]


def test_two_entries_sharing_a_session_id_but_naming_two_files_are_refused(tmp_path):
    state = _state(tmp_path)
    index = _sessions(state) / "sessions.json"
    data = json.loads(index.read_text(encoding="utf-8"))
    data["agent:main:cron:nightly"]["sessionId"] = CHANNEL_ID
    index.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CorruptTranscriptError, match="names two files"):
        SessionStore.openclaw(state, agent="main")


def test_an_agent_that_is_not_an_openclaw_agent_id_is_refused(tmp_path):
    for agent in ("../main", "", "a/b", "-x"):
        with pytest.raises(PathEscapesStoreError):
            SessionStore.openclaw(tmp_path, agent=agent)
    assert not (tmp_path / "agents").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over_as_openclaw_takes_it_over(tmp_path):
    state = _state(tmp_path)
    store = SessionStore.openclaw(state, agent="main")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    lock = store.index_path.with_name("sessions.json.lock")
    lock.write_text(json.dumps({"pid": child.pid, "createdAt": "2099-01-01T00:00:00.000Z"}))
    store.save({NEW: SessionRecord(NEW, derived_session_id(NEW), 1.0, 1.0)})
    assert NEW in json.loads(store.index_path.read_text(encoding="utf-8"))
    assert not lock.exists()


def test_a_live_openclaw_lock_is_waited_for_and_then_reported_with_nothing_written(tmp_path):
    state = _state(tmp_path)
    store = SessionStore.openclaw(state, agent="main")
    store.lock_timeout = 0.1
    before = store.index_path.read_bytes()
    lock = store.index_path.with_name("sessions.json.lock")
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    lock.write_text(json.dumps({"pid": os.getpid(), "createdAt": created}, indent=2))
    with pytest.raises(CoordinationError, match="lock"):
        store.save({NEW: SessionRecord(NEW, derived_session_id(NEW), 1.0, 1.0)})
    assert store.index_path.read_bytes() == before
    assert lock.exists(), "another process's lock is not ours to remove"


def test_an_index_openclaw_cannot_read_is_left_as_it_is(tmp_path):
    state = _state(tmp_path)
    store = SessionStore.openclaw(state, agent="main")
    store.index_path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptTranscriptError):
        store.save({NEW: SessionRecord(NEW, derived_session_id(NEW), 1.0, 1.0)})
    assert store.index_path.read_text(encoding="utf-8") == "{not json"
    assert not store.index_path.with_name("sessions.json.lock").exists()


# --------------------------------------------------------------------------- openclaw versions


def test_a_sqlite_era_state_directory_is_refused_in_one_line_and_nothing_is_written(make_runtime, tmp_path):
    state = _state(tmp_path, with_fixture=True)
    database = state / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"SQLite format 3\x00")
    before = sorted(str(p) for p in state.rglob("*"))
    with pytest.raises(OpenclawStateNotSupportedError) as refused:
        make_runtime(state, openclaw_agent="main")
    message = str(refused.value)
    assert "\n" not in message
    assert "SQLite-era" in message and str(database) in message and "2026.8" in message
    assert sorted(str(p) for p in state.rglob("*")) == before


def test_an_archived_jsonl_state_directory_is_refused_too(tmp_path):
    state = _state(tmp_path, with_fixture=True)
    archive = state / "agents" / "main" / "session-sqlite-import-archive"
    archive.mkdir()
    (archive / f"agent_main_main.{MAIN_FILE}.imported-1796000000000").write_bytes(b"{}\n")
    with pytest.raises(OpenclawStateNotSupportedError, match="archived them in"):
        SessionStore.openclaw(state, agent="main")
    assert not (state / "agents" / "main" / "sessionward").exists()


def test_a_jsonl_era_state_directory_is_served_and_another_agents_database_does_not_matter(tmp_path):
    state = _state(tmp_path, with_fixture=True)
    other = state / "agents" / "work" / "agent" / "openclaw-agent.sqlite"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"")
    store = SessionStore.openclaw(state, agent="main")
    assert MAIN in store.load_index()
