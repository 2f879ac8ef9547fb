"""A model of openclaw's lock-release design, faithful where the reply gets lost.

What it models (DESIGN.md, "The problem it removes"):

- **The lock.** ``<transcript>.lock`` is created with ``O_CREAT | O_EXCL`` and holds a JSON
  payload ``{pid, createdAt, owner}``. A contended acquire reads the payload and reclaims
  the lock when it is stale (missing or dead pid, unreadable or too old ``createdAt``;
  when only the payload is unreadable, the lock file's mtime decides, so a lock whose holder
  has not written its payload yet is not stolen); otherwise it backs off linearly
  (``step * attempt``, capped) until a timeout, then raises ``SessionWriteLockError``.
  Release closes the descriptor and removes the path, whoever's lock it is by then, as
  openclaw's ``fs.rm(lockPath, {force: true})`` does. This mirrors openclaw's
  ``src/agents/session-write-lock.ts`` (its 50 ms x attempt backoff capped at 1 s, 10 s
  timeout and 30 min staleness are scaled down in ``LockReleaseConfig``).
- **Released around every stream.** An attempt takes the lock to load the session (read
  the leaf entry and record the fingerprint) and, on a turn's first attempt, to append the
  user entry; it releases the lock, streams, then re-takes it for the assistant entry.
- **The fence.** Before each append under the re-taken lock, the attempt compares the
  file's fingerprint ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` with the one it
  recorded after its own last write (or its load). A mismatch means another run wrote in the
  window: ``TakeoverError``.
- **The fallback chain.** ``models`` are tried in order. ``TakeoverError`` and
  ``SessionWriteLockError`` are caught like any model failure and the next model is tried,
  as a fresh attempt that re-loads the session and streams again. When every model has
  failed, the chain ends with "All models failed": the reply is dropped and the submitter
  hears nothing. That is the bug: no model can fix a coordination error, and under
  contention each retry streams for as long as the first one and is fenced the same way.
- **Stuck-session recovery.** ``StuckRunWatchdog`` ages out a run, sets its abort flag and
  immediately re-fires a new run of the same turn on the same file (its user entry is
  already there, so the new run does not write it again). The old run reads the flag only
  between stream chunks, so it keeps streaming; when it sees the flag it persists its
  partial reply with ``stopReason: "aborted"`` (pi keeps aborted messages), which moves the
  fingerprint under the new run; if the flag came during its last chunk it never sees it and
  persists a full reply. Either way the two copies fence each other.

Runs are threads, not processes. The shared medium is the file system: the ``O_EXCL``
create, the lock file's removal, the appends and ``os.stat`` behave the same between two
threads of one process as between two processes, and no Python state is shared between runs
except the tally this module reports. openclaw itself runs every lane of a gateway as async
tasks of one Node process, so one process with many concurrent runs is its real shape
(and the lock's pid is then the same for every run, as here). Threads also start in
microseconds on this 2-core machine where processes would cost tens of milliseconds each.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import attrs

from benchmarks.baselines.base import Tally, ThreadedSystem
from benchmarks.baselines.provider import ScriptedStream
from benchmarks.baselines.recovery import RunHandle
from benchmarks.baselines.transcript import (
    Fingerprint,
    append_entry,
    fingerprint,
    last_entry_id,
    message_entry,
    now_iso,
)
from benchmarks.workload import SubmittedTurn


class TakeoverError(Exception):
    """The transcript changed since this run's last write: another run took the session over."""


class SessionWriteLockError(Exception):
    """The lock file stayed held (and not stale) for the whole acquire timeout."""


class AllModelsFailedError(Exception):
    """Every model of the fallback chain failed; the turn's reply is dropped."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("All models failed: " + "; ".join(failures))
        self.failures = failures


class RunAborted(Exception):
    """The run saw its abort flag between two chunks (and persisted its partial reply)."""


@attrs.frozen
class LockReleaseConfig:
    """The model's knobs. Times are seconds at ``time_scale=1``; ``scaled`` multiplies them."""

    models: tuple[str, ...] = ("primary", "fallback-1", "fallback-2")
    """The model-fallback chain, tried in order."""
    lock_timeout: float = 1.0
    """How long an acquire retries before ``SessionWriteLockError`` (openclaw: 10 s)."""
    lock_backoff_step: float = 0.002
    """Sleep after the n-th failed try is ``n * step`` (openclaw: 50 ms)..."""
    lock_backoff_cap: float = 0.04
    """...capped at this (openclaw: 1 s)."""
    lock_stale_after: float = 10.0
    """A lock older than this is stale (openclaw: 30 min)."""
    max_refires: int = 1
    """Re-fires recovery may start per turn."""

    def scaled(self, k: float) -> LockReleaseConfig:
        """This config with every duration multiplied by ``k``."""
        return attrs.evolve(
            self,
            lock_timeout=self.lock_timeout * k,
            lock_backoff_step=self.lock_backoff_step * k,
            lock_backoff_cap=self.lock_backoff_cap * k,
            lock_stale_after=self.lock_stale_after * k,
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_payload(lock_path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def stale_reasons(payload: dict[str, Any] | None, stale_after: float, now: float) -> list[str]:
    """Why a lock payload is stale, as openclaw's ``inspectLockPayload`` sees it.

    Args:
        payload: The lock file's JSON, or None when it could not be read.
        stale_after: Seconds after ``createdAt`` at which the lock is stale.
        now: The current wall-clock time (``time.time()``).
    """
    payload = payload or {}
    reasons = []
    pid = payload.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        reasons.append("missing-pid")
    elif not _pid_alive(pid):
        reasons.append("dead-pid")
    created = payload.get("createdAt")
    try:
        created_at = (
            datetime.fromisoformat(created).timestamp() if isinstance(created, str) else None
        )
    except ValueError:
        created_at = None
    if created_at is None:
        reasons.append("invalid-createdAt")
    elif now - created_at > stale_after:
        reasons.append("too-old")
    return reasons


class SessionWriteLock:
    """``<transcript>.lock``, taken with ``O_CREAT | O_EXCL``; a context manager.

    Args:
        transcript: The transcript file the lock guards.
        config: Timeout, backoff and staleness.
        owner: Written into the payload (the run's id).
        tally: Counts ``stale_locks_reclaimed`` and ``lock_timeouts``.
    """

    def __init__(
        self, transcript: Path, config: LockReleaseConfig, owner: int, tally: Tally
    ) -> None:
        self.path = Path(f"{transcript}.lock")
        self.config = config
        self.owner = owner
        self.tally = tally
        self._fd: int | None = None

    def acquire(self) -> None:
        """Create the lock file, retrying with backoff; reclaim it when stale.

        Raises:
            SessionWriteLockError: Still held by a live holder after ``lock_timeout``.
        """
        started = time.monotonic()
        attempt = 0
        while time.monotonic() - started < self.config.lock_timeout:
            attempt += 1
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._reclaim_if_stale():
                    continue
                remaining = self.config.lock_timeout - (time.monotonic() - started)
                if remaining <= 0:
                    break
                step = self.config.lock_backoff_step * attempt
                time.sleep(min(self.config.lock_backoff_cap, step, remaining))
                continue
            payload = {"pid": os.getpid(), "createdAt": now_iso(), "owner": self.owner}
            os.write(fd, json.dumps(payload).encode())
            self._fd = fd
            return
        self.tally.add("lock_timeouts")
        holder = _read_payload(self.path) or {}
        raise SessionWriteLockError(
            f"session file locked (timeout {self.config.lock_timeout:.3f}s): "
            f"owner={holder.get('owner', 'unknown')} {self.path}"
        )

    def _reclaim_if_stale(self) -> bool:
        now = time.time()
        reasons = stale_reasons(_read_payload(self.path), self.config.lock_stale_after, now)
        if not reasons:
            return False
        if set(reasons) <= {"missing-pid", "invalid-createdAt"}:
            # Unreadable payload: maybe the holder has not written it yet. Judge by mtime.
            try:
                age = now - self.path.stat().st_mtime
            except FileNotFoundError:
                return True
            if age <= self.config.lock_stale_after:
                return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.tally.add("stale_locks_reclaimed")
        return True

    def release(self) -> None:
        """Close the descriptor and remove the lock path (whoever holds it by now)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@attrs.define
class _Loaded:
    """An attempt's view of the session: the fence and the leaf to append under."""

    fence: Fingerprint
    """The fingerprint after this run's last write (or its load)."""
    leaf: str | None
    """The id of the last entry this run knows of: the next entry's parentId."""


class LockReleaseSystem(ThreadedSystem):
    """Runs turns the lock-release way (see the module docstring).

    Args:
        sessions_dir: Where the transcripts are.
        transcript_name: Session key -> transcript file name.
        provider: The stream every attempt uses.
        recovery_threshold: Seconds after which recovery aborts a run and re-fires it.
        config: Lock, fallback and re-fire settings.
    """

    name = "lock-release"

    def __init__(
        self,
        sessions_dir: Path,
        transcript_name: Callable[[str], str],
        provider: ScriptedStream,
        *,
        recovery_threshold: float,
        config: LockReleaseConfig = LockReleaseConfig(),
    ) -> None:
        super().__init__(
            sessions_dir,
            transcript_name,
            provider,
            recovery_threshold=recovery_threshold,
            max_refires=config.max_refires,
        )
        self.config = config
        self.failures: dict[str, AllModelsFailedError] = {}
        """Turn id -> the error its last run's chain ended with ("All models failed")."""

    def run_turn(self, turn: SubmittedTurn) -> None:
        """Run the submitted run of ``turn`` in the calling thread."""
        self._run(turn, generation=0, user_written=False)

    def on_stuck(self, handle: RunHandle) -> None:
        """Re-fire the turn on a new thread at once, while the aborted run is still alive."""
        self.tally.add("second_runs")
        self.start_thread(
            self._run,
            handle.turn,
            handle.generation + 1,
            handle.user_written,
            name=f"{handle.turn.turn_id}-refire{handle.generation + 1}",
        )

    def _run(self, turn: SubmittedTurn, generation: int, user_written: bool) -> None:
        handle = RunHandle(
            turn, started_at=time.monotonic(), generation=generation, user_written=user_written
        )
        self.tally.add("runs_started")
        self.watchdog.register(handle)
        try:
            self._fallback_chain(handle)
        finally:
            self.watchdog.unregister(handle)

    def _fallback_chain(self, handle: RunHandle) -> None:
        failures: list[str] = []
        for model in self.config.models:
            if handle.abort.is_set():
                self.tally.add("aborted_runs")
                return
            try:
                self._attempt(handle, model)
            except (TakeoverError, SessionWriteLockError) as exc:
                # The modelled bug: a coordination error is handled as a model failure, so
                # the chain moves on to the next model instead of surfacing it.
                failures.append(f"{model}: {type(exc).__name__}: {exc}")
                continue
            except RunAborted:
                self.tally.add("aborted_runs")
                return
            if handle.abort.is_set():
                # The flag came during the last chunk: the reply is persisted, but recovery
                # already replaced this run, so nobody is waiting for it.
                self.tally.add("superseded_replies")
            else:
                self.tally.delivered(handle.turn.turn_id, time.monotonic())
            return
        if handle.abort.is_set():
            # Aborted during the last model's stream and then fenced: recovery owns the turn.
            self.tally.add("aborted_runs")
            return
        self.tally.add("all_models_failed")
        self.failures[handle.turn.turn_id] = AllModelsFailedError(failures)

    def _lock(self, path: Path, handle: RunHandle) -> SessionWriteLock:
        return SessionWriteLock(path, self.config, handle.run_id, self.tally)

    def _attempt(self, handle: RunHandle, model: str) -> None:
        turn = handle.turn
        path = self.transcript_for(turn)
        with self._lock(path, handle):
            loaded = _Loaded(fingerprint(path), last_entry_id(path))
            if not handle.user_written:
                user = message_entry(
                    turn_id=turn.turn_id, parent_id=loaded.leaf, role="user", text=turn.text
                )
                self._append_fenced(path, loaded, user)
                handle.user_written = True
        # The lock is released for the whole stream call: the window another run writes in.
        parts: list[str] = []
        aborted = False
        stream = self.provider.stream(turn, model)
        try:
            for index, piece in enumerate(stream):
                parts.append(piece)
                # The abort is read between chunks only; after the last chunk nobody looks.
                if index < turn.chunks - 1 and handle.abort.is_set():
                    aborted = True
                    break
        finally:
            stream.close()
        reply = message_entry(
            turn_id=turn.turn_id,
            parent_id=loaded.leaf,
            role="assistant",
            text="".join(parts),
            model=model,
            stop_reason="aborted" if aborted else "stop",
        )
        with self._lock(path, handle):
            self._append_fenced(path, loaded, reply)
        if aborted:
            raise RunAborted(turn.turn_id)

    def _append_fenced(self, path: Path, loaded: _Loaded, entry: dict[str, Any]) -> None:
        """Append under the held lock if the fence holds; move the fence past the write.

        Raises:
            TakeoverError: The fingerprint is not the one recorded after this run's last write.
        """
        current = fingerprint(path)
        if current != loaded.fence:
            self.tally.add("fence_errors")
            self.tally.contend(entry["turnId"])
            raise TakeoverError(f"session file changed under run: {path.name}")
        entry["parentId"] = loaded.leaf
        append_entry(path, entry)
        loaded.fence = fingerprint(path)
        loaded.leaf = entry["id"]
