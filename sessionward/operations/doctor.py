"""``sessionward doctor``: gather a store's facts (read-only), and apply the fixes findings name.

``gather_facts`` reads the store's files and the process table and never writes; the
rules are in ``sessionward.operations.diagnosis``. ``apply_fix`` does one finding's ``Fix`` and
nothing else: the CLI prints every fix before it applies it.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from sessionward.errors import CoordinationError, CorruptTranscriptError, PathEscapesStoreError
from sessionward.hosting.claim import RECORD_NAME, read_record, store_lock
from sessionward.hosting.ownership import host_alive, leftover_pids
from sessionward.hosting.processes import all_process_facts, end_processes, process_facts
from sessionward.operations.diagnosis import (
    Fix,
    FixKind,
    HostFacts,
    IndexedSession,
    StaleLock,
    StoreFacts,
    TranscriptFacts,
)
from sessionward.storage.index_files import index_document
from sessionward.storage.keys import validate_session_id
from sessionward.storage.openclaw_store import IMPORT_ARCHIVE, INDEX_NAME, SQLITE_DATABASE, read_agent_index
from sessionward.storage.transcript_format import parse_transcript

OPENCLAW_LOCK_STALE_AFTER = 30.0
"""Seconds after which openclaw counts its index lock as stale (its ``staleMs``)."""


def gather_facts(root: str | os.PathLike[str]) -> StoreFacts:
    """Everything ``diagnose`` needs about the store at ``root``. Writes nothing."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        return StoreFacts(str(root), "missing")
    host = _host_facts(root)
    if (root / "agents").is_dir() and not (root / "sessions").is_dir():
        return _openclaw_facts(root, host)
    index_error, indexed, files = None, [], set()
    try:
        data = index_document(root)  # sessions.json with its journal applied
        for key, value in sorted(data.items()):
            session_id = validate_session_id(value["sessionId"])
            file = root / "sessions" / f"{session_id}.jsonl"
            indexed.append(IndexedSession(key, str(file), file.exists()))
            files.add(str(file))
    except (OSError, ValueError, KeyError, TypeError, PathEscapesStoreError) as exc:
        index_error = f"{root / 'sessions.json'}: {exc}"
    transcripts = _transcripts(root / "sessions", root / "sessions", files)
    return StoreFacts(str(root), "sessionward", index_error, tuple(indexed), transcripts,
                      _torn_sidecars(root / "sessions"), (), host, ())


def _openclaw_facts(state_dir: Path, host: HostFacts | None) -> StoreFacts:
    sqlite, indexed, transcripts, torn, locks, errors = [], [], [], [], [], []
    for agent_dir in sorted(p for p in (state_dir / "agents").iterdir() if p.is_dir()):
        agent = agent_dir.name
        database = agent_dir.joinpath(*SQLITE_DATABASE)
        archive = agent_dir / IMPORT_ARCHIVE
        if database.exists():
            sqlite.append((agent, f"its sessions are in openclaw's SQLite database {database}"))
            continue
        if archive.is_dir() and any(archive.iterdir()):
            sqlite.append((agent, f"openclaw imported its transcripts into SQLite and archived them in {archive}"))
            continue
        sessions = agent_dir / "sessions"
        files: set[str] = set()
        if (sessions / INDEX_NAME).is_file():
            try:
                for s in read_agent_index(agent, sessions / INDEX_NAME):
                    indexed.append(IndexedSession(s.session_key, str(s.file), s.file.exists()))
                    files.add(str(s.file))
            except (CorruptTranscriptError, PathEscapesStoreError) as exc:
                errors.append(str(exc))
        if sessions.is_dir():
            transcripts += _transcripts(sessions, agent_dir / "sessionward", files)
            lock = sessions / (INDEX_NAME + ".lock")
            if lock.exists():
                locks.append(_openclaw_lock(lock))
            locks += [_transcript_lock(p) for p in sorted(sessions.glob("*.jsonl.lock"))]
        torn += _torn_sidecars(agent_dir / "sessionward")
    return StoreFacts(str(state_dir), "openclaw", "; ".join(errors) or None, tuple(indexed), tuple(transcripts),
                      tuple(torn), tuple(sqlite), host, tuple(locks))


def _transcripts(sessions: Path, sidecars: Path, indexed: set[str]) -> tuple[TranscriptFacts, ...]:
    if not sessions.is_dir():
        return ()
    found = []
    for path in sorted(sessions.glob("*.jsonl")):
        if path.name.endswith(".quarantine.jsonl") or not path.is_file():
            continue
        parsed = parse_transcript(path.read_bytes())
        quarantine = sidecars / (path.name + ".quarantine.jsonl")
        found.append(TranscriptFacts(
            str(path), str(path.resolve()) in indexed or str(path) in indexed,
            len(parsed.torn_tail) if parsed.torn_tail else 0, len(parsed.bad_lines),
            str(quarantine) if quarantine.exists() else None))
    return tuple(found)


def _torn_sidecars(directory: Path) -> tuple[str, ...]:
    if not directory.is_dir():
        return ()
    return tuple(str(p) for p in sorted(directory.iterdir()) if ".jsonl.torn" in p.name)


def _host_facts(root: Path) -> HostFacts | None:
    if not (root / RECORD_NAME).exists():
        return None
    record = read_record(root)
    if record is None:
        return None
    alive = host_alive(record, process_facts(record.host_pid))
    leftovers = () if alive else tuple(leftover_pids(record, all_process_facts(), own_pid=os.getpid()))
    return HostFacts(str(root / RECORD_NAME), record.host_pid, alive, record.port, leftovers)


def _openclaw_lock(lock: Path) -> StaleLock:
    from sessionward.storage.store import _stale_lock  # openclaw's rule, shared with the store

    return StaleLock(str(lock), _lock_pid(lock), _stale_lock(lock, OPENCLAW_LOCK_STALE_AFTER))


def _transcript_lock(lock: Path) -> StaleLock:
    """openclaw's lock on one transcript (``<file>.lock``, ``{"pid", "createdAt"}``): stale
    only when its process is gone. Age alone proves nothing here: openclaw holds it for
    a whole write, and a live gateway's lock must never be reported as removable."""
    pid = _lock_pid(lock)
    return StaleLock(str(lock), pid, pid is not None and process_facts(pid) is None)


def _lock_pid(lock: Path) -> int | None:
    try:
        payload = json.loads(lock.read_bytes())
    except (OSError, ValueError):
        return None
    pid = payload.get("pid") if isinstance(payload, dict) else None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


# -- fixes ------------------------------------------------------------------------------------


def apply_fix(root: str | os.PathLike[str], fix: Fix) -> str:
    """Do ``fix`` (and nothing else); returns one line saying what was done.

    Raises:
        CoordinationError: the fix could not be done safely (the file is in use, the
            record changed meanwhile); nothing was changed.
    """
    root = Path(root).expanduser().resolve()
    path = Path(fix.path)
    match fix.kind:
        case FixKind.MOVE_TORN_TAIL:
            return _move_torn_tail(path)
        case FixKind.REMOVE_STALE_LOCK:
            again = _openclaw_lock(path) if path.name == INDEX_NAME + ".lock" else _transcript_lock(path)
            if not again.stale:
                raise CoordinationError(f"{path} is held by a live process now; left alone")
            path.unlink(missing_ok=True)
            return f"removed {path}"
        case FixKind.END_LEFTOVERS | FixKind.REMOVE_STALE_RECORD:
            with store_lock(root):
                record = read_record(root)
                if record is None or host_alive(record, process_facts(record.host_pid)):
                    raise CoordinationError(f"{root / RECORD_NAME} changed meanwhile (a live system serves "
                                            "the store now); left alone")
                if fix.kind is FixKind.REMOVE_STALE_RECORD:
                    (root / RECORD_NAME).unlink(missing_ok=True)
                    return f"removed {root / RECORD_NAME}"
                # Only the printed pids, and only while they are still the dead system's.
                still = set(leftover_pids(record, all_process_facts(), own_pid=os.getpid())) & set(fix.pids)
                facts = [f for f in all_process_facts() if f.pid in still]
                left = end_processes(facts)
                if left:
                    raise CoordinationError(f"processes {left} did not end")
                return f"ended processes {', '.join(map(str, sorted(still))) or '(already gone)'}"
    raise AssertionError(fix.kind)  # FixKind is a closed set


def _move_torn_tail(path: Path) -> str:
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:  # an owner holds this lock for its life: never repair a file in use
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CoordinationError(f"{path} is open by its owner; it repairs the tail itself") from None
        data = path.read_bytes()
        tail = parse_transcript(data).torn_tail
        if not tail:
            return f"{path} has no torn tail any more; left alone"
        side = _sidecar_dir(path) / (path.name + ".torn")
        n = 0
        while side.exists():
            n += 1
            side = side.with_name(f"{path.name}.torn.{n}")
        with open(side, "xb") as f:
            f.write(tail)
            f.flush()
            os.fsync(f.fileno())
        os.ftruncate(fd, len(data) - len(tail))
        os.fsync(fd)
        return f"moved {len(tail)} bytes to {side}"
    finally:
        os.close(fd)


def _sidecar_dir(transcript: Path) -> Path:
    """Where an owner puts the transcript's side files: beside it, except in an openclaw
    agent's ``sessions/`` (openclaw's files only), where they go to ``../sessionward/``."""
    sessions = transcript.parent
    if sessions.name == "sessions" and sessions.parent.parent.name == "agents":
        side = sessions.parent / "sessionward"
        side.mkdir(exist_ok=True)
        return side
    return sessions
