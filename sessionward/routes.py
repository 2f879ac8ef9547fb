"""A client's direct routes to owners (issue 17 item 1). Pure: no Thespian, no clock reads.

After first contact a client sends a session's turns and queries to its owner directly,
not through the Directory: one hop and the Directory's CPU fewer per turn. What makes it
safe:

- The route is learned only from the owner itself (``TurnAccepted.owner`` and ``.route``:
  its address, its file and the epoch of its activation).
- Every direct message carries the route it was sent on. An owner that is not that one
  (another file's, a later activation of the same file, one that is stopping or fenced)
  answers ``ErrorReply`` kind ``not_owner`` and runs nothing (``actors/owner.py``).
- A direct submit the owner has not acknowledged is sent again through the Directory when
  the owner answers ``not_owner``, when the send itself fails, when the Directory says the
  owner moved (``OwnerMoved``), or after ``RESEND_AFTER`` seconds in which neither it nor
  anything else from its owner was heard (``Routes.due``). The
  copy carries the same request id and idempotency key, so an owner that did accept the
  first answers nothing new for it (``TurnLedger.answer_retry``): a turn never runs twice.
  These are the submits the Directory forwards again to a lost owner's successor; a
  direct one it never saw, so the client does it.
- A direct send waits at most ``DIRECT_SEND_LIMIT`` for the owner's process to take it
  (``sessionward.hosting.senders``); one it did not take in time, or that failed, goes through the
  Directory at once (``Routes.send_ended``).
- Nothing a client submits overtakes what it submitted before. A submit through the
  Directory reaches the owner one hop later than a direct one would, and two keys bound to
  one file have two routes (or one, and none yet), so while a submit sent through the
  Directory is unanswered, later ones to its file (to any file, while its file is not
  known) go that way too (``Routes.direct_allowed``); the Directory forwards in the order
  it receives. Seen in CI before this rule: a channel message sent directly ran before a
  direct message sent earlier through the Directory to the same file. The wait is bounded
  by ``HOLD_AFTER`` (a Directory that does not answer must not stop every known session
  from being served).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

RESEND_AFTER = 10.0
"""Seconds a direct submit may go unacknowledged, with nothing heard from its owner meanwhile,
before it goes through the Directory too. It is the last resort: a send the owner's process
did not take goes through the Directory at once (``DIRECT_SEND_LIMIT``), and an owner that
dies is reported by the Directory (``OwnerMoved``), whose notice sends its unacknowledged
submits again; this bounds the case where that notice is lost too. Long against a live
owner: with 2 s (before 2026-12-02), 2,000 turns submitted at once to 100 worker-mode
owners on 2 CPUs waited up to 5 s for acknowledgement, 200-300 of them were sent again,
and the sender thread spent 0.9 s telling the Directory so while later turns waited. A
copy sent while the owner was only slow costs a hop and nothing else."""

HOLD_AFTER = 2.0
"""Seconds a submit sent through the Directory and not answered yet holds later direct
submits to its file back (``Routes.direct_allowed``): long against the Directory's
forwarding (milliseconds), short against a caller's patience."""

DIRECT_QUERY_WAIT = 1.0
"""Seconds a query sent to an owner directly waits before it is asked through the Directory
(with what is left of the caller's timeout); the late direct answer, if any, is as good."""

DIRECT_SEND_LIMIT = 0.5
"""Seconds a caller's thread waits for an owner's process to take a direct send. Thespian's
TCP transport finishes a transmit only when the peer's process acknowledges the frame, and
its external ``tell`` waits for that up to 60 s (measured 60.06 s to a SIGSTOPped owner),
so a frozen owner (stopped, swapped out, in a debugger) would hold the caller a minute. A
live owner's process acknowledges in milliseconds even under load, so 0.5 s is long against
it and short against a caller's patience; a send cut off while the owner was only slow
costs one copy through the Directory, which runs nothing twice (same request id and
idempotency key)."""

MAX_ROUTES = 10_000
"""Routes kept at most (the oldest learned goes first): a client of many sessions keeps a
bounded table, and a forgotten route only costs one hop through the Directory."""


@attrs.frozen
class DirectRoute:
    """Where a session's owner is: its address (opaque here), file and epoch."""

    address: Any
    path: str
    epoch: int


@attrs.frozen
class DirectSubmit:
    """A submit sent to an owner directly and not yet acknowledged."""

    message: Any
    path: str
    sent_time: float


class DirectSend(enum.Enum):
    """How a direct send ended."""

    DELIVERED = "delivered"
    """The owner's process took the frame."""
    FAILED = "failed"
    """Thespian reported the send failed (nothing listens there: the process is gone)."""
    STALLED = "stalled"
    """Not taken within ``DIRECT_SEND_LIMIT``: the transmit is still queued in the sending
    context, where it would hold every later send (``replaces_context``)."""


def direct_send_state(*, delivered: bool, failed: bool, remaining: float) -> DirectSend | None:
    """How a direct send stands after a pass of the transport; None: keep waiting."""
    if failed:
        return DirectSend.FAILED
    if delivered:
        return DirectSend.DELIVERED
    if remaining <= 0:
        return DirectSend.STALLED
    return None


def replaces_context(state: DirectSend) -> bool:
    """Whether the sending context must be thrown away and a new one made. A stalled
    transmit stays queued in its context until Thespian gives up on it (5 minutes), and
    every later send from that context waits for the queue to drain; a failed one is done."""
    return state is DirectSend.STALLED


class Routes:
    """Session key -> its owner's route, and the direct submits awaiting acknowledgement.

    Thread-safety is the caller's (``sessionward.client.Mailbox`` holds its lock around
    every call).
    """

    def __init__(self, *, resend_after: float = RESEND_AFTER, hold_after: float = HOLD_AFTER,
                 most: int = MAX_ROUTES) -> None:
        self._routes: dict[str, DirectRoute] = {}
        self._pending: dict[str, DirectSubmit] = {}
        self._heard: dict[str, float] = {}
        """File -> when anything was last heard from its owner (``heard_from``)."""
        self._via_directory: dict[str, tuple[str | None, float]] = {}
        """Submits sent through the Directory and not answered yet: request id -> (their file
        if known, sent time)."""
        self._resend_after = resend_after
        self._hold_after = hold_after
        self._most = most

    def via_directory(self, request_id: str, now: float, path: str | None = None) -> None:
        """A submit was sent through the Directory: later ones to its file (``path``, the
        file of the route it was first sent on; None: not known, so any file) follow it
        there until it is answered (or ``hold_after`` has passed), so none overtakes it."""
        self._prune(now)
        self._via_directory[request_id] = (path, now)

    def direct_allowed(self, path: str, now: float) -> bool:
        """Whether a submit may go directly to the owner of ``path`` now: no submit sent
        through the Directory less than ``hold_after`` ago to that file (or to a file not
        known) is still unanswered."""
        self._prune(now)
        return not any(held is None or held == path for held, _ in self._via_directory.values())

    def _prune(self, now: float) -> None:
        """Forget Directory submits unanswered for ``hold_after``: they hold nothing back."""
        stale = [rid for rid, (_, sent) in self._via_directory.items() if now - sent >= self._hold_after]
        for rid in stale:
            del self._via_directory[rid]

    def noted(self, request_id: str) -> bool:
        """Whether a submit is noted as sent (directly, or through the Directory) and not
        answered yet."""
        return request_id in self._pending or request_id in self._via_directory

    def get(self, session_key: str) -> DirectRoute | None:
        return self._routes.get(session_key)

    def learn(self, session_key: str, route: DirectRoute) -> None:
        """The owner of ``session_key`` answered from ``route``."""
        self._routes.pop(session_key, None)
        self._routes[session_key] = route
        if len(self._routes) > self._most:
            del self._routes[next(iter(self._routes))]

    def forget(self, session_key: str) -> None:
        self._routes.pop(session_key, None)

    def sent(self, request_id: str, message: Any, path: str, now: float) -> None:
        # Kept oldest first (``due`` looks at the oldest alone to know that none is late).
        self._pending.pop(request_id, None)
        self._pending[request_id] = DirectSubmit(message, path, now)

    def answered(self, request_id: str) -> None:
        """The owner acknowledged (or refused, or ended) the submit: nothing to send again."""
        self._pending.pop(request_id, None)
        self._via_directory.pop(request_id, None)

    def refused(self, request_id: str) -> Any | None:
        """An owner answered ``not_owner``: the submit to send through the Directory (None
        if it is not a pending direct submit), and its session's route is forgotten."""
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return None
        self._forget_path(pending.path)
        return pending.message

    def send_ended(self, request_id: str, state: DirectSend) -> Any | None:
        """A direct submit's send ended: the submit to send through the Directory now (None
        if it was delivered, or is no longer pending: answered, or already sent again).
        Not delivered, its session's route is forgotten: the owner is gone or frozen."""
        if state is DirectSend.DELIVERED:
            return None
        return self.refused(request_id)

    def moved(self, path: str) -> list[Any]:
        """The owner of ``path`` is no longer live: forget its routes, and return the direct
        submits it had not acknowledged, to send through the Directory."""
        self._forget_path(path)
        return self._take(lambda p: p.path == path)

    def heard_from(self, path: str, now: float) -> None:
        """Something (an acknowledgement, a delta, an outcome) came from the owner of ``path``:
        it is alive, and its unacknowledged submits are not late yet (``due``)."""
        self._heard.pop(path, None)
        self._heard[path] = now
        if len(self._heard) > self._most:
            del self._heard[next(iter(self._heard))]

    def due(self, now: float) -> list[Any]:
        """Direct submits unacknowledged, with nothing heard from their owner, for
        ``resend_after`` seconds: to send again through the Directory. Their routes are
        kept: only evidence forgets a route (``not_owner``, a failed or stalled send,
        ``OwnerMoved``), and a dead owner's is found out by the next direct send. Seen before
        this rule: 2,000 turns submitted at once to 100 worker-mode owners on 2 CPUs waited
        up to 4 s for their acknowledgement; every one past 2 s went through the Directory
        too and its route was forgotten, so the turns that came after took the slow way
        and queued behind those copies (a paced phase right after: p99 0.4-2 s, not 7 ms)."""
        oldest = next(iter(self._pending.values()), None)
        if oldest is None or now - oldest.sent_time < self._resend_after:
            return []  # the mailbox asks on every message it takes: no walk over every pending one

        def is_late(p: DirectSubmit) -> bool:
            return now - max(p.sent_time, self._heard.get(p.path, 0.0)) >= self._resend_after

        return self._take(is_late)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def _take(self, which: Callable[[DirectSubmit], bool]) -> list[Any]:
        taken = [rid for rid, p in self._pending.items() if which(p)]
        return [self._pending.pop(rid).message for rid in taken]

    def _forget_path(self, path: str) -> None:
        for key in [k for k, r in self._routes.items() if r.path == path]:
            del self._routes[key]
        self._heard.pop(path, None)
