"""The session inbox: accepted turns, recorded before they are acknowledged.

A sidecar ``sessions/<id>.jsonl.inbox`` beside the transcript, written only by the
session's owner. ``accepted`` lines are fsynced before ``TurnAccepted`` is sent (unless
durability is ``never``), so an acknowledged turn survives an owner crash; ``finished``
lines mark turns that got their outcome. On activation the owner compares the inbox with
the transcript's ``turn_end`` entries to find turns that were acknowledged and never
finished (see ``sessionward.recovery.replay``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from sessionward.storage.files import write_atomically

if TYPE_CHECKING:  # the store imports nothing from here; only the type is needed
    from sessionward.storage.store import SessionStore


@attrs.frozen
class InboxTurn:
    """An accepted turn as the inbox remembers it."""

    turn_id: str
    lane: str
    text: str
    mode: str
    accepted_time: float
    idempotency_key: str | None = None
    attempts: int = 0
    """How many times a new owner has already re-queued this turn after a crash."""
    reply: str | None = None
    """Where the outcome goes (the submitter's pickled address and request id, base64),
    so that a new owner can still deliver it. The inbox is the store's own file, written
    only by owners, and is trusted like the rest of the store."""


class Inbox:
    """Append-only record of accepted and finished turns. Its owner is its only writer."""

    def __init__(self, path: Path, *, fsync: bool) -> None:
        self.path = path
        self._fsync = fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def load(self) -> tuple[list[InboxTurn], dict[str, str]]:
        """Accepted turns in order, and those marked finished (``read_inbox``)."""
        return read_inbox(self.path)

    def record_accepted(self, turn: InboxTurn, *, sync: bool = True) -> None:
        """Append an ``accepted`` line, fsynced unless ``sync`` is False: then the caller
        calls ``sync`` before it acknowledges the turn (one fsync for a batch of submits)."""
        self._write(_accepted_record(turn), sync=self._fsync and sync)

    def sync(self) -> None:
        """Make every line written so far durable (nothing to do without fsync)."""
        if self._fsync:
            os.fsync(self._fd)

    def record_finished(self, turn_id: str, status: str, into: str | None = None) -> None:
        """Mark a turn finished; ``into``: the turn it was merged into (collect, steer), whose
        ``turn_end`` ends it too (a merged turn has none of its own)."""
        # Not fsynced: the transcript's turn_end entry is the durable terminal record; this
        # line only saves a lookup on the next activation (and, for a merged turn, says
        # whose outcome it got: ``recovery.replay.ended_unheard``).
        rec = {"kind": "finished", "turnId": turn_id, "status": status}
        if into is not None and into != turn_id:
            rec["into"] = into
        self._write(rec, sync=False)

    def rewrite(self, pending: list[InboxTurn]) -> None:
        """Replace the inbox with only ``pending`` (compaction on activation)."""
        os.close(self._fd)
        lines = [json.dumps(_accepted_record(t), ensure_ascii=False) + "\n" for t in pending]
        write_atomically(self.path, "".join(lines).encode("utf-8"))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)

    def _write(self, rec: dict[str, Any], *, sync: bool) -> None:
        os.write(self._fd, (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        if sync:
            os.fsync(self._fd)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _accepted_record(turn: InboxTurn) -> dict[str, Any]:
    return {
        "kind": "accepted",
        "turnId": turn.turn_id,
        "lane": turn.lane,
        "text": turn.text,
        "mode": turn.mode,
        "acceptedTime": turn.accepted_time,
        "idempotencyKey": turn.idempotency_key,
        "attempts": turn.attempts,
        "reply": turn.reply,
    }


def read_inbox(path: Path) -> tuple[list[InboxTurn], dict[str, str]]:
    """Accepted turns in order, and those marked finished: turn id -> the turn whose
    ``turn_end`` ends it (itself, or the turn it was merged into). Read-only.

    A torn or foreign line is skipped: the transcript, not the inbox, is the record of
    what was written, and the inbox only adds turns that might otherwise be lost.
    """
    accepted: list[InboxTurn] = []
    finished: dict[str, str] = {}
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return accepted, finished
    for line in raw.split(b"\n"):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        if rec.get("kind") == "accepted":
            try:
                accepted.append(
                    InboxTurn(
                        turn_id=str(rec["turnId"]),
                        lane=str(rec["lane"]),
                        text=str(rec["text"]),
                        mode=str(rec.get("mode", "followup")),
                        accepted_time=float(rec["acceptedTime"]),
                        idempotency_key=rec.get("idempotencyKey"),
                        attempts=int(rec.get("attempts", 0)),
                        reply=rec.get("reply"),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        elif rec.get("kind") == "finished" and isinstance(rec.get("turnId"), str):
            into = rec.get("into")
            finished[rec["turnId"]] = into if isinstance(into, str) else rec["turnId"]
    return accepted, finished


def sessions_with_inboxes(store: SessionStore) -> list[str]:
    """One session key for each transcript whose inbox is not empty (it may hold turns
    acknowledged and never finished). Reads file sizes and the index only."""
    names = {p.name.removesuffix(".inbox") for p in (store.sidecar_dir or store.sessions_dir).glob("*.inbox")
             if p.stat().st_size > 0}
    if not names:
        return []
    named = getattr(store, "_files", {})  # an openclaw store's own file names, by session id
    keys: dict[str, str] = {}
    for key, record in sorted(store.load_index().items()):
        name = named[record.session_id].name if record.session_id in named else f"{record.session_id}.jsonl"
        if name in names:
            keys.setdefault(name, key)
    return sorted(keys.values())
