"""A session owner's phase: what it may do in each, how it stops, and what it reports.
Pure: given ``now``; no actor engine.

Phases (``OwnerPhase``): ``starting`` until activation, then ``idle`` and ``running`` in
turn; ``draining`` while a shutdown gives every accepted turn its outcome; ``fenced``
once an outside write was seen; ``stopping`` while it passivates or fails to activate.
A fenced or stopping owner no longer serves its file: the requests in ``ROUTED`` go back
to the Directory, which routes them to the file's next owner.
"""

from __future__ import annotations

import attrs

from sessionward.actors.activation import OwnerSetup
from sessionward.actors.admin_protocol import (
    OwnerPhase,
    OwnerState,
    QueryOwnerState,
    QueuedTurn,
)
from sessionward.actors.ledger import TurnLedger
from sessionward.actors.streaming import TurnRun
from sessionward.actors.turn_protocol import AbortTurn, CancelTurn, NudgeTurn, SubmitTurn
from sessionward.lanes import queue_policy as qp
from sessionward.outcomes import OutcomeReason, TurnStatus
from sessionward.storage.transcript import Durability

ROUTED = (SubmitTurn, AbortTurn, CancelTurn, NudgeTurn, QueryOwnerState)
"""Requests a fenced or stopping owner sends back to the Directory."""


def diverts(phase: OwnerPhase, message: object) -> bool:
    """Whether ``message`` goes back to the Directory instead of to a handler."""
    return phase in (OwnerPhase.FENCED, OwnerPhase.STOPPING) and isinstance(message, ROUTED)


def shares_sync(durability: Durability | None, window: float, *, started_next: bool, turn_seconds: float) -> bool:
    """Whether a turn that just ended waits up to ``window`` seconds for the next turn's
    fsync (``RuntimeConfig.shared_fsync_window``) instead of taking its own now.

    Only with ``durability = "turn"`` (``entry`` has fsynced every line already, ``never``
    fsyncs nothing), a window above 0, another turn started at once, and a turn that itself
    took no longer than the window (``turn_seconds``, from its start to its end): a session
    with quick turns queued (a burst, a saturated gateway) then pays one fsync for several
    turns. The turn just ended is the guess at how long the next will take: after a turn
    longer than the window (a model's stream of seconds) the next one would not end in
    time to share, so waiting would only delay this outcome by the whole window and end in
    an fsync of its own anyway. A turn alone is never delayed. Its outcome is still sent
    only once its entries are on disk, so the cost is that latency, bounded by the window,
    for a quick turn that has another behind it.
    """
    return started_next and window > 0 and turn_seconds <= window and durability is Durability.TURN


SERVING = (OwnerPhase.IDLE, OwnerPhase.RUNNING, OwnerPhase.DRAINING)
"""Phases in which an owner serves its file (a draining one refuses turns itself)."""


def refuses_direct(phase: OwnerPhase, path: str, epoch: int, keys: tuple[str, ...], message: object) -> bool:
    """Whether a message a client sent to this owner directly (its ``route`` is set) must be
    refused with ``not_owner``: the route names another file or activation, the session
    key is not this file's, or the owner no longer serves (stopping, fenced). Such a
    message never runs here: the client asks the Directory (``sessionward.routes``)."""
    route = getattr(message, "route", None)
    if route is None:
        return False
    return (phase not in SERVING or route.path != path or route.epoch != epoch
            or getattr(message, "session_key", None) not in keys)


def is_idle(phase: OwnerPhase, run: TurnRun | None, queue: qp.SessionQueue) -> bool:
    """Nothing running, nothing waiting: the owner may passivate."""
    return run is None and qp.depth(queue) == 0 and phase is OwnerPhase.IDLE


IDLE_SLACK = 0.99
"""An idle timer may fire a little early (Thespian rounds its timers): within 1% counts."""


def idle_for(idle_since: float, timeout: float, now: float) -> bool:
    """Whether an owner idle since ``idle_since`` has been idle ``timeout`` seconds by ``now``."""
    return now - idle_since >= timeout * IDLE_SLACK


def idle_check_after(idle_since: float, timeout: float, now: float) -> float:
    """Seconds until an owner idle since ``idle_since`` has been idle ``timeout``: when its
    one pending idle timer of that kind should fire (at least 1 ms)."""
    return max(0.001, idle_since + timeout - now)


def retires_worker(phase: OwnerPhase, run: TurnRun | None, queue: qp.SessionQueue, *, has_worker: bool,
                   idle_since: float, timeout: float, now: float) -> bool:
    """Whether an owner ends its worker process now: it has one, and no turn ran or waited
    for ``timeout`` (``worker_idle_timeout``). A live but idle session then costs one
    process; the next turn starts a worker again, and the worker's ``WorkerReady`` moves the
    turn's progress time, so recovery never counts that start-up as a stall."""
    return has_worker and is_idle(phase, run, queue) and idle_for(idle_since, timeout, now)


def offers_pages(phase: OwnerPhase, run: TurnRun | None, queue: qp.SessionQueue, *, enabled: bool, offered: bool,
                 own_process: bool, idle_since: float, timeout: float, now: float) -> bool:
    """Whether an owner offers its pages to KSM now (``hosting/page_merging.py``): enabled
    (``merge_idle_pages``), not done yet, in a process of its own, and no turn ran or waited
    for ``timeout`` (``worker_idle_timeout``, when its worker ends too). A busy owner never
    does: a merged page it writes is copied again, a page fault each. Nor does one that
    shares its process (``simpleSystemBase`` runs every actor in the process that started
    the runtime: an embedding application's pages are not the owner's to offer)."""
    return may_offer_pages(enabled=enabled, offered=offered, own_process=own_process) and \
        is_idle(phase, run, queue) and idle_for(idle_since, timeout, now)


def may_offer_pages(*, enabled: bool, offered: bool, own_process: bool) -> bool:
    """Whether an owner will offer its pages once idle long enough (``offers_pages``): so an
    idle owner keeps its idle check armed for it."""
    return enabled and own_process and not offered


@attrs.frozen
class Ending:
    """How a turn ends that never ran to its own end (stopped, dropped, cancelled)."""

    status: TurnStatus
    reason: OutcomeReason
    write_end: bool
    """Whether each turn's ``turn_end`` is written: never after a fence (the file is no
    longer this owner's to write)."""


FENCE = Ending(TurnStatus.FAILED, OutcomeReason.FENCED, write_end=False)
"""Every owed turn, when an outside write was seen."""
SHUT_DOWN = Ending(TurnStatus.CANCELLED, OutcomeReason.SHUT_DOWN, write_end=True)
"""Every owed turn, when the owner is asked to exit (nobody is left waiting)."""
DROPPED = Ending(TurnStatus.CANCELLED, OutcomeReason.DROPPED, write_end=True)
"""A collected message past the collect cap (drop policy ``old`` or ``new``)."""
CANCELLED = Ending(TurnStatus.CANCELLED, OutcomeReason.CANCELLED, write_end=True)
"""A queued turn an admin cancelled."""


def why_not_abort(run: TurnRun | None, turn_id: str | None) -> str | None:
    """Why an ``AbortTurn`` naming ``turn_id`` (None: whatever runs) is refused, or None."""
    if run is None:
        return "no turn is running"
    if turn_id is not None and turn_id != run.ticket.turn_id:
        # A stale abort (recovery saw an older turn) must never hit the newer turn.
        return f"stale: turn {turn_id} is not running"
    return None


def snapshot(setup: OwnerSetup, keys: tuple[str, ...], epoch: int, phase: OwnerPhase, run: TurnRun | None,
             queue: qp.SessionQueue, ledger: TurnLedger, *, pid: int, now: float, request_id: str = "",
             include_history: bool = False) -> OwnerState:
    """The owner's state as a frozen record (never its live queue)."""
    queued = qp.snapshot(queue)
    counts = ledger.counts
    return OwnerState(
        session_key=setup.session_key, session_id=setup.session_id, file=setup.path, state=phase,
        turn_id=run.ticket.turn_id if run else None, lane=run.ticket.lane if run else None,
        turn_started_time=run.started_time if run else None,
        last_progress_time=run.last_progress_time if run else None,
        queue_depth=qp.depth(queue), queued_lanes=tuple(t.lane for t in queued), pid=pid, keys=keys,
        turns_completed=counts["completed"], turns_failed=counts["failed"],
        heartbeats_skipped=counts["heartbeat_skipped"],
        history=ledger.history if include_history else (), request_id=request_id, snapshot_time=now,
        member=setup.member, owner_epoch=epoch,
        queued_turns=tuple(QueuedTurn(t.turn_id, t.lane, t.mode, t.accepted_time) for t in queued),
    )
