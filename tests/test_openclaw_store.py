"""Tests for ``sessionward.storage.openclaw_store``: reading openclaw's per-agent ``sessions.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sessionward.errors import CorruptTranscriptError, PathEscapesStoreError
from sessionward.storage.openclaw_store import OpenclawSession, read_openclaw_index

SID = "8555a0a4-0b79-459d-939c-e17cdbbf4fe2"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path.resolve() / "state"


def _index(state: Path, agent: str, store: Any) -> Path:
    sessions = state / "agents" / agent / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    index = sessions / "sessions.json"
    index.write_text(store if isinstance(store, str) else json.dumps(store), encoding="utf-8")
    return sessions


def test_sessions_are_read_with_their_files_resolved_and_other_fields_kept(state: Path) -> None:
    sessions = _index(
        state,
        "main",
        {
            "agent:main:main": {
                "sessionId": SID,
                "updatedAt": 1772978822268,
                "origin": {"label": "heartbeat"},
                "sessionFile": str(state / "agents" / "main" / "sessions" / f"{SID}.jsonl"),
            },
            "agent:main:discord:1": {"sessionId": "abc", "sessionFile": "abc-topic-7.jsonl"},
            "agent:main:cron:nightly": {"sessionId": " nightly "},
        },
    )
    assert read_openclaw_index(state) == (
        OpenclawSession(
            "main",
            "agent:main:main",
            SID,
            sessions / f"{SID}.jsonl",
            {"updatedAt": 1772978822268, "origin": {"label": "heartbeat"}},
        ),
        OpenclawSession("main", "agent:main:discord:1", "abc", sessions / "abc-topic-7.jsonl", {}),
        OpenclawSession(
            "main", "agent:main:cron:nightly", "nightly", sessions / "nightly.jsonl", {}
        ),
    )


def test_every_agent_is_read_in_name_order_and_an_absent_store_is_empty(state: Path) -> None:
    assert read_openclaw_index(state) == ()
    _index(state, "zeta", {"k": {"sessionId": "z"}})
    _index(state, "alpha", {"k": {"sessionId": "a"}})
    (state / "agents" / "no-index").mkdir()
    assert [(s.agent, s.session_id) for s in read_openclaw_index(state)] == [
        ("alpha", "a"),
        ("zeta", "z"),
    ]


@pytest.mark.parametrize(
    "session_file",
    [
        "../other/x.jsonl",
        "../../other-agent/sessions/x.jsonl",
        "/etc/passwd",
        ".",
        "sessions.json",
        "a\x00b.jsonl",
        "C:\\Users\\someone\\elsewhere\\x.jsonl",
    ],
)
def test_a_session_file_outside_the_agents_sessions_directory_is_refused(
    state: Path, session_file: str
) -> None:
    _index(state, "main", {"k": {"sessionId": "s", "sessionFile": session_file}})
    with pytest.raises(PathEscapesStoreError):
        read_openclaw_index(state)


def test_another_agents_sessions_directory_is_refused(state: Path) -> None:
    other = _index(state, "other", {})
    _index(state, "main", {"k": {"sessionId": "s", "sessionFile": str(other / "s.jsonl")}})
    with pytest.raises(PathEscapesStoreError):
        read_openclaw_index(state)


def test_a_symlink_inside_that_points_outside_is_refused(state: Path, tmp_path: Path) -> None:
    sessions = _index(state, "main", {"k": {"sessionId": "s", "sessionFile": "s.jsonl"}})
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (sessions / "s.jsonl").symlink_to(outside)
    with pytest.raises(PathEscapesStoreError):
        read_openclaw_index(state)


@pytest.mark.parametrize("session_id", ["../x", "a/b", ".hidden", "", "   "])
def test_an_unsafe_session_id_without_a_file_is_refused(state: Path, session_id: str) -> None:
    _index(state, "main", {"k": {"sessionId": session_id}})
    with pytest.raises((PathEscapesStoreError, CorruptTranscriptError)):
        read_openclaw_index(state)


@pytest.mark.parametrize(
    "session_file",
    [
        f"/old/root/.openclaw/agents/main/sessions/{SID}.jsonl",
        f"C:\\Users\\someone\\.openclaw-desktop\\agents\\main\\sessions\\{SID}.jsonl",
    ],
)
def test_an_absolute_path_from_another_root_is_read_in_this_agents_directory(
    state: Path, session_file: str
) -> None:
    # openclaw's remapSameAgentCrossRootSessionPath: a moved (or Windows) state directory
    sessions = _index(state, "main", {"k": {"sessionId": SID, "sessionFile": session_file}})
    [session] = read_openclaw_index(state)
    assert session.file == sessions / f"{SID}.jsonl"


@pytest.mark.parametrize(
    "store",
    [
        "{not json",
        "[]",
        json.dumps({"k": "not an object"}),
        json.dumps({"k": {"updatedAt": 1}}),
        json.dumps({"k": {"sessionId": 7}}),
        json.dumps({"k": {"sessionId": "s", "sessionFile": 7}}),
    ],
)
def test_a_corrupt_index_is_refused(state: Path, store: str) -> None:
    _index(state, "main", store)
    with pytest.raises(CorruptTranscriptError):
        read_openclaw_index(state)


def test_errors_are_value_errors(state: Path) -> None:
    _index(state, "main", {"k": {"sessionId": "s", "sessionFile": "../x.jsonl"}})
    with pytest.raises(ValueError, match="outside"):
        read_openclaw_index(state)
