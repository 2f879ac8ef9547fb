"""Deliveries: what the bot owes for each turn it submitted, until the reply reached a client.

A ``Delivery`` is live, mutable state (deltas as they stream, the handle's outcomes, how
often the reply was handed out); a ``TurnView`` is its frozen snapshot, the JSON the HTTP
API returns and what the demo's summary counts.
"""

from __future__ import annotations

import enum
import threading
import time

import attrs

from sessionward import TurnOutcome, TurnStatus
from sessionward.errors import RuntimeClosedError
from sessionward.examples.multilane_bot.persona import LONG_MARKER


class TurnKind(enum.StrEnum):
    """Where a turn came from."""

    DIRECT = "direct"
    CHANNEL = "channel"
    HEARTBEAT = "heartbeat"
    CRON = "cron"


USER_KINDS = frozenset({TurnKind.DIRECT, TurnKind.CHANNEL})
"""Turns a person waits for: their replies must never be lost."""


@attrs.frozen
class TurnView:
    """A snapshot of one delivery (the JSON the HTTP API returns)."""

    request_id: str
    kind: TurnKind
    lane: str
    session_key: str
    user: str | None
    status: str
    """``pending`` until the final outcome, then its status (``completed``, ``failed``, ...)."""
    turn_id: str | None = None
    decision: str | None = None
    """How the owner took the turn: ``queued``, ``running``, ``collecting``, ..."""
    accepted: bool = False
    """The owner recorded the turn in its inbox (a refused turn never was)."""
    reply: str | None = None
    reason: str | None = None
    detail: str = ""
    merged_into: str | None = None
    """The turn that carried this message, when the collect mode merged it."""
    final_outcomes: int = 0
    """Final outcomes received: 1 once done (more would be a bug)."""
    delivered: int = 0
    """How often the completed reply was handed to a client."""
    shares_main: bool = False
    """The turn ran in the main session's file."""
    long: bool = False
    submitted_time: float = 0.0
    started_time: float | None = None
    finished_time: float | None = None


class Delivery:
    """One turn the bot submitted: its streamed text, its outcome, and who got the reply.

    Thread-safe. HTTP handlers wait on it (``wait_done``, ``wait_deltas``); the runtime's
    mailbox thread feeds deltas; the bot's outcome watcher settles it.
    """

    def __init__(self, kind: TurnKind, lane: str, session_key: str, user: str | None, text: str,
                 *, shares_main: bool) -> None:
        self.kind, self.lane, self.session_key, self.user, self.text = kind, lane, session_key, user, text
        self.shares_main = shares_main
        self.handle = None
        self.submitted_time = time.time()
        self._cond = threading.Condition()
        self._deltas: list[str] = []
        self._done = False
        """Set by the bot's outcome watcher once the handle is done; wakes the waiters."""
        self._delivered = 0

    @property
    def request_id(self) -> str:
        return self.handle.request_id

    # fed by the runtime's threads
    def _on_delta(self, text: str) -> None:
        with self._cond:
            self._deltas.append(text)
            self._cond.notify_all()

    def _settle(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    # read by clients
    @property
    def done(self) -> bool:
        """The turn has its final outcome (or was refused). Read from the handle, so it is
        true as soon as the runtime answered, even before the watcher woke the waiters."""
        return self.handle.done

    @property
    def outcome(self) -> TurnOutcome | None:
        """The final outcome, once there is one (None for a refused request)."""
        handle = self.handle
        if not handle.done or handle.error is not None or not handle.outcomes:
            return None
        return handle.outcomes[-1]

    def wait_done(self, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._done, timeout)

    def wait_deltas(self, start: int, timeout: float) -> tuple[list[str], bool]:
        """Deltas from index ``start`` on (waiting up to ``timeout`` for one), and whether done."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._deltas) > start or self._done, timeout)
            return self._deltas[start:], self._done

    def mark_delivered(self) -> None:
        """Record that a client was handed the completed reply."""
        with self._cond:
            self._delivered += 1

    def view(self) -> TurnView:
        handle = self.handle
        outcome = self.outcome
        outcomes = list(handle.outcomes) if handle is not None else []
        merged = next((o for o in outcomes if o.status is TurnStatus.MERGED), None)
        status = "pending"
        reason = detail = None
        error = handle.error if handle.done else None
        if error is not None:
            # Closed before the outcome came (shut_down), or refused before acceptance.
            reason = "shut_down" if isinstance(error, RuntimeClosedError) else "refused"
            status, detail = "failed", str(error)
        elif outcome is not None:
            status = outcome.status.value
            reason = outcome.reason.value if outcome.reason is not None else None
            detail = outcome.detail
        turn_id = handle.turn_id if handle is not None else None
        return TurnView(
            request_id=handle.request_id if handle is not None else "",
            kind=self.kind, lane=self.lane, session_key=self.session_key, user=self.user,
            status=status, turn_id=turn_id, decision=handle.decision if handle is not None else None,
            # A turn id means the owner accepted it; one the runtime closed on since is
            # still owed its reply (and so counts as lost).
            accepted=bool(turn_id),
            reply=outcome.reply if outcome is not None else None, reason=reason, detail=detail or "",
            merged_into=merged.merged_into if merged is not None else None,
            final_outcomes=sum(1 for o in outcomes if o.final), delivered=self._delivered,
            shares_main=self.shares_main, long=LONG_MARKER in self.text,
            submitted_time=self.submitted_time,
            started_time=outcome.started_time if outcome is not None else None,
            finished_time=outcome.finished_time if outcome is not None else None,
        )
