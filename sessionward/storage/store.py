"""The session store: a directory with ``sessions.json`` and ``sessions/<id>.jsonl``.

(Over 400 lines: it holds both store classes, sessionward's own and the openclaw one that
subclasses it, which must stay side by side; the index's file work is in ``index_files``.)

``sessions.json`` maps session keys to session ids (and so to transcript files). Saves
merge with what is on disk under an advisory lock (a flock on the ``sessions/`` directory:
nothing is left behind in the store), so two runtimes on one store never lose each
other's entries. A small index is rewritten atomically on every save; once it is big,
saves append to ``sessions.json.journal`` and the journal is folded back now and then and
when a runtime closes (``index_journal``: one new key over 100,000 sessions cost a 1 s
rewrite). Readers (``load_index``, ``index_files.index_document``) apply the journal, so
they see every session.

A new key's session id is derived from the key (a UUID5), so the mapping can always be
recomputed: losing an index write loses only timestamps, never a conversation. That is
what lets the Directory batch index writes. Explicit bindings (two keys on one file) are
written at once.

``OpenclawSessionStore`` is the same store over an openclaw agent's session directory
(``<state>/agents/<agent>/sessions/``): openclaw's index, openclaw's file names, openclaw's
lock protocol. A store travels to the Directory as its ``locator`` string.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from sessionward.errors import (
    BadInputError,
    CoordinationError,
    CorruptTranscriptError,
    InvalidSessionKeyError,
    PathEscapesStoreError,
)
from sessionward.storage import index_files
from sessionward.storage.files import write_atomically
from sessionward.storage.index_journal import JOURNAL_SUFFIX, CompactionPolicy, SaveAction, encode_records, plan_save
from sessionward.storage.js_json import stringify
from sessionward.storage.keys import validate_session_id, validate_session_key
from sessionward.storage.openclaw_store import INDEX_NAME, check_jsonl_era, read_agent_index, resolve_session_file

log = logging.getLogger("sessionward.store")

SESSION_ID_NAMESPACE = uuid.UUID("6f0c1f4e-2d7a-4e7b-9a43-5e55d0a1d001")
"""UUID5 namespace for session ids derived from session keys."""


@attrs.frozen
class SessionRecord:
    """One row of ``sessions.json``."""

    session_key: str
    session_id: str
    """The transcript's id: ``sessions/<session_id>.jsonl``."""
    created_time: float
    """When the key was first seen (epoch seconds)."""
    updated_time: float
    """When a turn last ran on it, as far as the index knows (epoch seconds)."""


def derived_session_id(session_key: str) -> str:
    """The session id a new key gets: stable, so any process can recompute it."""
    return str(uuid.uuid5(SESSION_ID_NAMESPACE, session_key))


class SessionStore:
    """A store directory. Cheap to construct; every method is safe across processes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.sessions_dir = self.root / "sessions"
        self.index_path = self.root / "sessions.json"
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.sidecar_dir: Path | None = None
        """Where sessionward's side files go (inbox, quarantine, torn tail, migration
        backup, the log); ``None``: beside each transcript and in ``root``."""
        self.unusable: dict[str, BadInputError] = {}
        """Keys whose ``sessions.json`` record the last ``load_index`` could not use, with
        the typed error a request for each gets (``_records``)."""

    def sidecar_path(self, transcript: str | os.PathLike[str], suffix: str) -> Path:
        """A transcript's side file, e.g. ``sidecar_path(path, ".inbox")``, in ``sidecar_dir``."""
        transcript = Path(transcript)
        return (self.sidecar_dir or transcript.parent) / (transcript.name + suffix)

    @classmethod
    def openclaw(cls, state_dir: str | os.PathLike[str], *, agent: str = "main") -> OpenclawSessionStore:
        """One agent's sessions in an openclaw state directory (see ``OpenclawSessionStore``)."""
        return OpenclawSessionStore(state_dir, agent=agent)

    @property
    def locator(self) -> str:
        """What ``from_locator`` reopens this store from (in another process): the root."""
        return str(self.root)

    @staticmethod
    def from_locator(locator: str) -> SessionStore:
        """Reopen a store from its ``locator``: ``openclaw:<agent>:<state dir>`` or a root.

        Raises:
            CorruptTranscriptError, PathEscapesStoreError: an openclaw index is unusable.
        """
        if locator.startswith(_OPENCLAW_PREFIX):
            agent, _, state_dir = locator.removeprefix(_OPENCLAW_PREFIX).partition(":")
            return OpenclawSessionStore(state_dir, agent=agent)
        return SessionStore(locator)

    # -- paths ---------------------------------------------------------------------------

    def transcript_path(self, session_id: str) -> Path:
        """The canonical real path of a session's transcript.

        Raises:
            PathEscapesStoreError: the id is unsafe, or a symlink leads out of ``sessions/``.
        """
        validate_session_id(session_id)
        path = Path(os.path.realpath(self.sessions_dir / f"{session_id}.jsonl"))
        if path.parent != Path(os.path.realpath(self.sessions_dir)):
            raise PathEscapesStoreError(f"transcript of {session_id!r} resolves outside the store")
        return path

    # -- index ---------------------------------------------------------------------------

    def load_index(self) -> dict[str, SessionRecord]:
        """Read the index: ``sessions.json`` (empty when absent) with its journal applied.

        Takes the index lock shared, so a compaction (which folds the journal into
        ``sessions.json`` and then removes it) is never seen half done.

        A record that cannot be used (an unsafe or missing ``sessionId``, a value that is not
        a record) is left out, and its key is in ``unusable`` with the error to answer it
        with: one bad line refuses its own session, not every session of the store. It stays
        in the file as it is (a save merges into the raw document).

        Raises:
            CorruptTranscriptError: ``sessions.json`` exists but is not a JSON object.
        """
        with index_files.flock_index(self.sessions_dir, shared=True):
            return self._records(index_files.read_document(self.index_path, self.journal_path))

    @property
    def journal_path(self) -> Path:
        """``sessions.json.journal``: index records not yet folded into ``sessions.json``."""
        return self.index_path.with_name(self.index_path.name + JOURNAL_SUFFIX)

    def resolve(self, session_key: str, known: dict[str, SessionRecord], *, now: float) -> SessionRecord:
        """The record of ``session_key``: from ``known`` or a new one with a derived id.

        Does not write: the caller adds new records to ``known`` and calls ``save``.
        """
        validate_session_key(session_key)
        record = known.get(session_key)
        if record is None:
            record = SessionRecord(session_key, derived_session_id(session_key), now, now)
        return record

    def save(self, records: dict[str, SessionRecord]) -> None:
        """Merge ``records`` into the index (theirs win on conflicts); durable on return.

        A small index is rewritten whole (temp file, fsync, rename), as it always was; a big
        one gets the records appended to its journal, fsynced, and the journal is folded
        into ``sessions.json`` when it has grown to a share of it (``index_journal.plan_save``).
        Other processes' saves merge under the same lock, so none is lost.
        """
        entries = {key: _entry(r) for key, r in records.items()}
        lines = encode_records(entries)
        with index_files.flock_index(self.sessions_dir, shared=False):
            action = plan_save(index_files.size(self.index_path), index_files.size(self.journal_path), len(lines),
                               self.compaction)
            if action is SaveAction.REWRITE:
                index_files.compact(self.index_path, self.journal_path, entries)
                return
            index_files.append_journal(self.journal_path, lines)
            if action is SaveAction.APPEND_THEN_COMPACT:
                index_files.compact(self.index_path, self.journal_path, {})

    def compact(self) -> None:
        """Fold the journal into ``sessions.json`` and remove it (nothing to do without one).

        Called on a clean shutdown, so a stopped store's ``sessions.json`` is complete.
        """
        with index_files.flock_index(self.sessions_dir, shared=False):
            if self.journal_path.exists():
                index_files.compact(self.index_path, self.journal_path, {})

    compaction = CompactionPolicy()
    """When saves rewrite ``sessions.json`` and when the journal is folded into it."""

    def _records(self, document: dict[str, Any]) -> dict[str, SessionRecord]:
        records: dict[str, SessionRecord] = {}
        unusable: dict[str, BadInputError] = {}
        for key, value in document.items():
            try:
                records[key] = SessionRecord(
                    session_key=key,
                    session_id=validate_session_id(value["sessionId"]),
                    created_time=float(value.get("createdTime", 0.0)),
                    updated_time=float(value.get("updatedTime", 0.0)),
                )
            except PathEscapesStoreError as exc:
                unusable[key] = PathEscapesStoreError(f"{self.index_path}, record {key!r}: {exc}")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                unusable[key] = CorruptTranscriptError(
                    f"{self.index_path}, record {key!r} is not a session record: {type(exc).__name__}: {exc}")
        self.unusable = unusable
        if unusable:
            log.warning("%s: %d records cannot be used; their sessions are refused until they are fixed: %s",
                        self.index_path, len(unusable), "; ".join(str(e) for e in list(unusable.values())[:5]))
        return records

def _entry(r: SessionRecord) -> dict[str, Any]:
    """A record as its ``sessions.json`` entry."""
    return {
        "sessionId": r.session_id,
        "sessionFile": f"sessions/{r.session_id}.jsonl",
        "createdTime": r.created_time,
        "updatedTime": r.updated_time,
    }


_OPENCLAW_PREFIX = "openclaw:"
_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.IGNORECASE)
"""openclaw's agent ids (its ``normalizeAgentId``): a single safe path segment."""


class OpenclawSessionStore(SessionStore):
    """An openclaw agent's session directory, used as a sessionward store.

    ``<state>/agents/<agent>/sessions/sessions.json`` maps session keys to ``sessionId``
    and, optionally, ``sessionFile``. A key in it runs on the file openclaw named: each path
    is validated by ``read_agent_index`` (symlinks followed; a path that leaves the sessions
    directory is refused, and so is the whole store, before any actor starts). A new key
    gets ``<derived id>.jsonl`` in that directory and an entry ``{"sessionId", "updatedAt"}``
    (epoch milliseconds, as openclaw writes it).

    The index stays openclaw's: it is rewritten as openclaw writes it (``openclaw_json``:
    two-space JSON, key order kept, JavaScript's number layout, no final newline), under
    openclaw's own lock (``sessions.json.lock``, created exclusively, holding ``{"pid",
    "createdAt"}``, removed after), and every entry sessionward does not add or rebind is
    kept byte for byte. sessionward adds none of its own fields: openclaw would keep them
    (its loader spreads unknown fields through), but nothing needs one.

    Invariant: one ``sessionId`` names one file. Two entries that share an id but name two
    files are refused, because sessionward routes a session by its file.

    Example::

        Runtime("~/.openclaw", openclaw_agent="main")   # or SessionStore.openclaw(...)

    Raises (constructor):
        PathEscapesStoreError: ``agent`` is not an openclaw agent id, or an index path
            leaves the sessions directory.
        CorruptTranscriptError: the index is not a JSON object of entries with ``sessionId``.
        OpenclawStateNotSupportedError: the agent's state is SQLite-era openclaw
            (``check_jsonl_era``); nothing is created.
    """

    lock_timeout = 10.0
    """Seconds to wait for openclaw's index lock (openclaw's own default wait)."""
    lock_stale_after = 30.0
    """A lock file older than this, or left by a dead process, is taken over (openclaw's
    ``staleMs`` for the store lock)."""

    def __init__(self, state_dir: str | os.PathLike[str], *, agent: str = "main") -> None:
        if not isinstance(agent, str) or not _AGENT_ID.fullmatch(agent):
            raise PathEscapesStoreError(f"agent {agent!r} is not an openclaw agent id")
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.agent = agent
        check_jsonl_era(self.state_dir, agent)  # before anything is created
        sessions = self.state_dir / "agents" / agent / "sessions"
        sessions.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(sessions))
        self.sessions_dir = self.root
        # openclaw's sessions/ holds openclaw's files only: a stray "<id>.jsonl.quarantine.jsonl"
        # there would look like a transcript to it. sessionward's own files go beside it.
        self.sidecar_dir = Path(os.path.realpath(self.state_dir / "agents" / agent)) / "sessionward"
        self.sidecar_dir.mkdir(exist_ok=True)
        self.index_path = self.root / INDEX_NAME
        self._files: dict[str, Path] = {}
        self.unusable: dict[str, BadInputError] = {}  # openclaw's index is checked whole (read_agent_index)
        self.load_index()  # refuse a bad index now, on the caller's side

    @property
    def locator(self) -> str:
        return f"{_OPENCLAW_PREFIX}{self.agent}:{self.state_dir}"

    def transcript_path(self, session_id: str) -> Path:
        """The file openclaw named for ``session_id``, else ``<session_id>.jsonl``; real path.

        Raises:
            PathEscapesStoreError: the id is unsafe, or the path (symlinks followed, now)
                leads out of the sessions directory.
        """
        named = self._files.get(session_id)
        if named is None:
            validate_session_id(session_id)
            named = self.sessions_dir / f"{session_id}.jsonl"
        return resolve_session_file(self.sessions_dir, self.agent, str(named),
                                    where=f"session {session_id!r}")

    def load_index(self) -> dict[str, SessionRecord]:
        """Read and validate openclaw's index (empty when absent); learn each id's file.

        Raises:
            CorruptTranscriptError, PathEscapesStoreError: as the constructor.
        """
        try:
            sessions = read_agent_index(self.agent, self.index_path)
        except FileNotFoundError:
            self._files = {}
            return {}
        files: dict[str, Path] = {}
        records: dict[str, SessionRecord] = {}
        for s in sessions:
            known = files.setdefault(s.session_id, s.file)
            if known != s.file:
                raise CorruptTranscriptError(
                    f"{self.index_path}: sessionId {s.session_id!r} names two files, "
                    f"{known.name} and {s.file.name}; sessionward routes a session by its file"
                )
            seen = _epoch_seconds(s.extra.get("updatedAt"))
            records[s.session_key] = SessionRecord(s.session_key, s.session_id, seen, seen)
        self._files = files
        return records

    def resolve(self, session_key: str, known: dict[str, SessionRecord], *, now: float) -> SessionRecord:
        """As ``SessionStore.resolve``; a new ``agent:<other>:...`` key is refused.

        Raises:
            InvalidSessionKeyError: a malformed key, or a new key of another agent (it
                belongs in that agent's index, where openclaw would look for it).
        """
        validate_session_key(session_key)
        if session_key not in known:
            root, _, rest = session_key.partition(":")
            if root == "agent" and rest.split(":", 1)[0].lower() != self.agent.lower():
                raise InvalidSessionKeyError(
                    f"{session_key!r} belongs to another agent; this store serves agent {self.agent!r}"
                )
        return super().resolve(session_key, known, now=now)

    def save(self, records: dict[str, SessionRecord]) -> None:
        """Merge ``records`` into openclaw's index under openclaw's lock.

        A new key gets ``{"sessionId", "updatedAt"}`` (plus ``sessionFile`` when its file is
        not ``<sessionId>.jsonl``); a key already there with the same ``sessionId`` is left
        as it is; one rebound to another id gets the new ``sessionId`` (and ``sessionFile``)
        and keeps its other fields.

        Raises:
            CorruptTranscriptError: the index on disk is not a JSON object. It is left as
                it is (it is openclaw's); new keys keep working, as their ids are derived.
            CoordinationError: openclaw's lock was not released within ``lock_timeout``.
        """
        with self._index_lock():
            try:
                data = json.loads(self.index_path.read_bytes().decode("utf-8"))
            except FileNotFoundError:
                data = {}
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise CorruptTranscriptError(f"{self.index_path} is not a JSON session index: {exc}") from None
            if not isinstance(data, dict):
                raise CorruptTranscriptError(f"{self.index_path} is not a JSON object of session entries")
            changed = False
            for key, record in records.items():
                entry = data.get(key)
                if isinstance(entry, dict) and str(entry.get("sessionId", "")).strip() == record.session_id:
                    continue
                fields: dict[str, Any] = {"sessionId": record.session_id}
                file = self._files.get(record.session_id)
                if file is not None and file != self.root / f"{record.session_id}.jsonl":
                    fields["sessionFile"] = os.path.relpath(file, self.root)
                if isinstance(entry, dict):
                    entry.pop("sessionFile", None)
                    data[key] = {**entry, **fields}
                else:
                    data[key] = {**fields, "updatedAt": int(record.updated_time * 1000)}
                changed = True
            if changed:
                # openclaw's saveSessionStore: JSON.stringify(store, null, 2), mode 0600.
                write_atomically(self.index_path, openclaw_json(data).encode("utf-8"), mode=0o600)

    def compact(self) -> None:
        """Nothing to fold: openclaw's index has no journal (openclaw reads ``sessions.json``
        alone, so every save here rewrites it, under openclaw's lock)."""

    @contextlib.contextmanager
    def _index_lock(self) -> Iterator[None]:
        """openclaw's store lock (``acquireSessionWriteLock`` on ``sessions.json``).

        An exclusively created ``sessions.json.lock`` holding ``{"pid", "createdAt"}``,
        removed on release. A lock left by a dead process, or older than
        ``lock_stale_after``, is taken over, as openclaw takes it over.
        """
        lock = self.index_path.with_name(INDEX_NAME + ".lock")
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                if _stale_lock(lock, self.lock_stale_after):
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()
                    continue
                if time.monotonic() >= deadline:
                    raise CoordinationError(f"timeout waiting for openclaw's session store lock {lock}") from None
                time.sleep(0.025)  # openclaw's lock is a file; there is nothing to wait on
        try:
            created = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            os.write(fd, json.dumps({"pid": os.getpid(), "createdAt": created}, indent=2).encode())
            yield
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def openclaw_json(value: Any) -> str:
    """``JSON.stringify(value, null, 2)``, as openclaw writes its index.

    Numbers are laid out as JavaScript lays them out and non-ASCII text is written as is,
    so an index openclaw wrote comes back byte for byte, but for the entries changed.
    """
    return stringify(value, indent=2, nonfinite_as_null=True)


def _stale_lock(lock: Path, stale_after: float) -> bool:
    """openclaw's rule: a dead pid, or too old (by ``createdAt``, else by mtime)."""
    try:
        payload = json.loads(lock.read_bytes())
        mtime = lock.stat().st_mtime
    except FileNotFoundError:
        return True  # released meanwhile: try again at once
    except (ValueError, OSError):
        payload, mtime = None, _mtime_or_now(lock)
    pid = payload.get("pid") if isinstance(payload, dict) else None
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, someone else's
    created = payload.get("createdAt") if isinstance(payload, dict) else None
    try:
        since = dt.datetime.fromisoformat(created).timestamp() if isinstance(created, str) else mtime
    except ValueError:
        since = mtime
    return time.time() - since > stale_after


def _mtime_or_now(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _epoch_seconds(updated_at: object) -> float:
    """openclaw's ``updatedAt`` (epoch milliseconds) in seconds; 0.0 when absent or odd."""
    if isinstance(updated_at, int | float) and not isinstance(updated_at, bool) and updated_at >= 0:
        return float(updated_at) / 1000.0
    return 0.0


def missing_transcript(session_key: str, path: str | os.PathLike[str]) -> str:
    """The one-line account of a transcript the index names that is not there (log, outcome)."""
    return (f"the transcript of {session_key} is missing: expected at {path}, where the session index "
            f"names it; nothing was created (to start a new, empty one: `sessionward new-transcript "
            f"{session_key}`, Runtime.new_transcript, or RuntimeConfig(create_missing_transcripts=True))")
