"""Read an openclaw session store: which transcript file each session key uses.

openclaw keeps one index per agent, ``<state>/agents/<agent>/sessions/sessions.json``: a
JSON object mapping a session key (``agent:main:main``) to an entry with at least
``sessionId`` and often ``sessionFile`` (absolute in older versions, relative to the
sessions directory in newer ones), plus fields this module passes through untouched
(``updatedAt``, ``chatType``, ``origin``, ...). Without ``sessionFile`` the transcript is
``<sessionId>.jsonl`` in the sessions directory.

The index is outside input: a path in it must never let a reader or writer leave the
agent's sessions directory. Each path is resolved with symlinks followed, as openclaw's
``resolvePathWithinSessionsDir`` (``src/config/sessions/paths.ts``) resolves it, and
refused when it lands outside. Where openclaw quietly falls back to ``<sessionId>.jsonl``
or accepts a sibling agent's directory, this module refuses instead: an index that points
elsewhere is a problem to report, not to route around.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import attrs

from sessionward.errors import CorruptTranscriptError, OpenclawStateNotSupportedError, PathEscapesStoreError

INDEX_NAME = "sessions.json"
"""The index file's name inside ``agents/<agent>/sessions/``."""

SERVED_VERSIONS = "openclaw up to 2026.8.x (the JSONL era)"
"""The openclaw versions whose state ``openclaw_agent`` serves: those that keep
``sessions.json`` and one ``<sessionId>.jsonl`` transcript per session. From 2026.9 on,
openclaw keeps sessions in a per-agent SQLite database and reads the JSONL files only
once, as legacy input to import (``openclaw doctor --fix``), then archives them."""

SQLITE_DATABASE = ("agent", "openclaw-agent.sqlite")
"""The SQLite-era database, under ``agents/<agent>/`` (openclaw 2026.9.6's
``resolveAgentDir(...)/openclaw-agent.sqlite``)."""
IMPORT_ARCHIVE = "session-sqlite-import-archive"
"""Where openclaw's import moves the JSONL files it imported, under ``agents/<agent>/``
(2026.9.6's ``resolveImportedTranscriptArchiveDir``: a sibling of ``sessions/``)."""


def check_jsonl_era(state_dir: Path, agent: str) -> None:
    """Refuse an agent directory that a SQLite-era openclaw has taken over. Reads only.

    sessionward would write transcripts and index entries there that openclaw no longer
    reads (it lists 0 sessions and starts new ones), and an archived JSONL file would look
    like a missing one. So the whole store is refused, in one line naming the situation.

    Raises:
        OpenclawStateNotSupportedError: the agent's SQLite database exists, or openclaw's
            import has archived its JSONL transcripts.
    """
    agent_dir = Path(state_dir) / "agents" / agent
    database = agent_dir.joinpath(*SQLITE_DATABASE)
    archive = agent_dir / IMPORT_ARCHIVE
    if database.exists():
        found = f"its sessions are in openclaw's SQLite database {database}"
    elif archive.is_dir() and any(archive.iterdir()):
        found = f"openclaw imported its JSONL transcripts into SQLite and archived them in {archive}"
    else:
        return
    raise OpenclawStateNotSupportedError(
        f"openclaw agent {agent!r} in {state_dir} is SQLite-era state (openclaw 2026.9 or later): {found}; "
        f"openclaw_agent serves {SERVED_VERSIONS} only, so nothing was written"
    )

_SAFE_SESSION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}", re.IGNORECASE)
"""openclaw's ``SAFE_SESSION_ID_RE``: what may name ``<sessionId>.jsonl``."""


@attrs.frozen
class OpenclawSession:
    """One session key's entry in an agent's index. Not hashable (``extra`` is a dict)."""

    agent: str
    """The agent's directory name under ``agents/``."""
    session_key: str
    """The key in ``sessions.json`` (``agent:main:main``, ...)."""
    session_id: str
    """``sessionId``, trimmed."""
    file: Path
    """The transcript's real path, inside the agent's sessions directory (may not exist)."""
    extra: dict[str, Any]
    """Every other field of the entry, as read."""


def read_openclaw_index(state_dir: Path) -> tuple[OpenclawSession, ...]:
    """Every session in every agent's index under ``state_dir``, agents in name order.

    An agent directory without ``sessions/sessions.json`` has no sessions; a state
    directory without ``agents/`` gives ``()``.

    Raises:
        CorruptTranscriptError: an index is not UTF-8 JSON, not an object, or has an entry
            that is not an object or lacks a string ``sessionId``.
        PathEscapesStoreError: an entry's file resolves outside its agent's sessions
            directory, or its ``sessionId`` is not a safe file name.
    """
    agents_dir = Path(state_dir) / "agents"
    if not agents_dir.is_dir():
        return ()
    found: list[OpenclawSession] = []
    for agent_dir in sorted(agents_dir.iterdir(), key=lambda p: p.name):
        index = agent_dir / "sessions" / INDEX_NAME
        if index.is_file():
            found.extend(read_agent_index(agent_dir.name, index))
    return tuple(found)


def read_agent_index(agent: str, index: Path) -> tuple[OpenclawSession, ...]:
    """The sessions in one agent's ``sessions.json``, in the file's key order.

    Raises:
        CorruptTranscriptError, PathEscapesStoreError: as ``read_openclaw_index``.
    """
    try:
        store = json.loads(Path(index).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptTranscriptError(f"{index} is not a JSON session index: {exc}") from None
    if not isinstance(store, dict):
        raise CorruptTranscriptError(f"{index} is not a JSON object of session entries")
    sessions_dir = Path(os.path.realpath(Path(index).parent))
    found = []
    for key, entry in store.items():
        if not isinstance(entry, dict):
            raise CorruptTranscriptError(f"{index}: entry {key!r} is not an object")
        session_id = entry.get("sessionId")
        if not isinstance(session_id, str) or not session_id.strip():
            raise CorruptTranscriptError(f"{index}: entry {key!r} has no string sessionId")
        session_file = entry.get("sessionFile")
        if session_file is not None and not isinstance(session_file, str):
            raise CorruptTranscriptError(f"{index}: entry {key!r} has a non-string sessionFile")
        where = f"{index}: entry {key!r}"
        if session_file and session_file.strip():
            file = resolve_session_file(sessions_dir, agent, session_file.strip(), where=where)
        else:
            file = _file_for_id(sessions_dir, session_id.strip(), where=where)
        extra = {k: v for k, v in entry.items() if k not in ("sessionId", "sessionFile")}
        found.append(OpenclawSession(agent, key, session_id.strip(), file, extra))
    return tuple(found)


def _file_for_id(sessions_dir: Path, session_id: str, *, where: str) -> Path:
    # openclaw's resolveSessionTranscriptPathInDir: ``<sessionId>.jsonl``, id validated.
    if not _SAFE_SESSION_ID.fullmatch(session_id):
        raise PathEscapesStoreError(f"{where}: sessionId {session_id!r} is not a safe file name")
    return _contained(sessions_dir, sessions_dir / f"{session_id}.jsonl", where=where)


def resolve_session_file(
    sessions_dir: Path, agent: str, candidate: str, *, where: str = ""
) -> Path:
    """Resolve an index's ``sessionFile`` to a real path inside ``sessions_dir``.

    A relative path is taken from ``sessions_dir``; an absolute one as it is; symlinks are
    followed. An absolute path from another root whose shape is
    ``.../agents/<agent>/sessions/<file>`` for this same agent (a state directory that was
    moved, or written on Windows) is read as ``<file>`` in ``sessions_dir``, as openclaw's
    ``remapSameAgentCrossRootSessionPath`` does.

    Raises:
        PathEscapesStoreError: the path resolves outside ``sessions_dir`` (or to the
            directory itself, or to the index file).
    """
    base = Path(os.path.realpath(sessions_dir))
    if "\0" in candidate:
        raise PathEscapesStoreError(f"{where}: sessionFile {candidate!r} holds a NUL byte")
    if PureWindowsPath(candidate).drive and os.name != "nt":
        # A Windows path read on another system: only its canonical shape can be used.
        remapped = _same_agent_file(PureWindowsPath(candidate).parts, agent)
        if remapped is None:
            raise PathEscapesStoreError(f"{where}: sessionFile {candidate!r} is outside {base}")
        return _contained(base, base / remapped, where=where)
    path = Path(candidate)
    if not path.is_absolute():
        return _contained(base, base / path, where=where)
    try:
        return _contained(base, path, where=where)
    except PathEscapesStoreError:
        remapped = _same_agent_file(PurePosixPath(os.path.normpath(candidate)).parts, agent)
        if remapped is None:
            raise
        return _contained(base, base / remapped, where=where)


def _same_agent_file(parts: tuple[str, ...], agent: str) -> str | None:
    """``<file>`` when ``parts`` end in ``agents/<agent>/sessions/<file>``, else ``None``."""
    if len(parts) < 4 or parts[-2] != "sessions" or parts[-4] != "agents":
        return None
    if parts[-3].lower() != agent.lower() or parts[-1] in ("", ".", ".."):
        return None
    return parts[-1]


def _contained(base: Path, path: Path, *, where: str) -> Path:
    real = Path(os.path.realpath(path))
    if real == base or not real.is_relative_to(base):
        raise PathEscapesStoreError(f"{where}: {path} resolves to {real}, outside {base}")
    if real == base / INDEX_NAME:
        raise PathEscapesStoreError(f"{where}: {path} is the index itself, not a transcript")
    return real
