"""One session's queue: what happens to a turn that arrives while another one runs.

Over 400 lines (about 450) on purpose: one idea, a session's queue, as pure functions on one
record; about a third is the docstring below, the queue's specification, kept whole beside
the code it specifies.

A session runs one turn at a time. Each turn is submitted with a *queue mode*:

``followup`` (the default)
    The turn waits in the queue and runs after the turns ahead of it.
``collect``
    The turn goes into the session's *collect buffer*. Once nothing has arrived in the
    buffer for ``collect_window`` seconds (or it holds ``collect_cap`` messages), the
    buffer becomes **one** turn: its text is the messages' texts, one per line, and it
    carries the first message's turn id. Every other message ends ``merged`` into that
    turn. Use it for chat bursts ("hi" / "one more thing" / "and also").
``steer``
    When a turn is running and its provider can take input mid-turn, the message is handed
    to that turn at its next model or tool boundary. Otherwise it falls back to
    ``followup``, and the answer says so.
``interrupt``
    The running turn is aborted (it ends ``cancelled``, reason ``interrupted``) and this
    turn runs next, ahead of everything queued, whatever its lane.

Which queued turn runs next: interrupts first, in arrival order; then by lane priority
(direct, channel and main, then cron and other lanes, then heartbeat), in arrival order
within a priority. A ready collect buffer counts as one turn that arrived with its first
message, with the best priority among its messages.

Nothing is dropped silently:

* A full queue (``max_queued`` turns waiting) refuses a new turn with reason ``busy``.
* A heartbeat that arrives while the session is busy (a turn running or anything
  waiting) is refused with ``heartbeat_skipped``: a heartbeat is skipped and counted,
  never queued behind work, so heartbeats cannot pile up.
* A collect buffer holding more than ``collect_cap`` messages applies ``drop_policy``:
  ``old`` drops the oldest messages, ``new`` drops the newest (each dropped message ends
  with reason ``dropped``), and ``summarize`` keeps the ``collect_cap - 1`` newest in full
  and replaces each older one with a ``[dropped] <first 80 characters>`` line, so those
  end ``merged``.
* ``drain`` hands back every turn still waiting, so a stopping owner can end each one.

How an owner uses this module: call ``admit`` for every submitted turn and act on its
decision. Whenever no turn is running, call ``take_next``: run the turn it returns, deliver
its ``merged`` and ``dropped`` outcomes, and if it returns no turn, wake up at
``next_wakeup`` (the collect deadline) and call it again. Every function is pure: it takes
the current time and returns a new ``SessionQueue``.
"""

from __future__ import annotations

import enum
import itertools

import attrs

from sessionward.lanes.routing import LaneKind, lane_kind, lane_priority

SUMMARY_PREVIEW_CHARS = 80
"""How much of a summarized message's text its ``[dropped]`` line keeps."""


class QueueMode(enum.StrEnum):
    """How a turn is queued when it arrives (see the module docstring)."""

    FOLLOWUP = "followup"
    COLLECT = "collect"
    STEER = "steer"
    INTERRUPT = "interrupt"


class DropPolicy(enum.StrEnum):
    """What a collect buffer over ``collect_cap`` does with the extra messages."""

    OLD = "old"
    """Drop the oldest messages; keep the newest ``collect_cap``."""
    NEW = "new"
    """Drop the newest messages; keep the oldest ``collect_cap``."""
    SUMMARIZE = "summarize"
    """Keep the newest ``collect_cap - 1`` in full and one short line per older message."""


class RefusalReason(enum.StrEnum):
    """Why ``admit`` refused a turn. Values match ``sessionward.outcomes.OutcomeReason``."""

    BUSY = "busy"
    """The queue holds ``max_queued`` turns."""
    HEARTBEAT_SKIPPED = "heartbeat_skipped"
    """A heartbeat arrived while the session was busy."""


class DropReason(enum.StrEnum):
    """Why ``take_next`` dropped a turn. Values match ``OutcomeReason``."""

    DROPPED = "dropped"
    """The collect buffer was over its cap (drop policy ``old`` or ``new``)."""


@attrs.frozen
class QueuePolicy:
    """Limits and defaults for one session's queue."""

    max_queued: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    """Most turns waiting at once (followups, collect buffer and interrupts together).
    A turn past this is refused with ``busy``. A steered turn does not wait, so it does
    not count."""
    collect_window: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    """Seconds of quiet after the last collected message before the buffer becomes a
    turn."""
    collect_cap: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    """A collect buffer holding this many messages is ready at once, without waiting
    for quiet; past it, ``drop_policy`` applies."""
    drop_policy: DropPolicy = attrs.field(default=DropPolicy.OLD, converter=DropPolicy)
    """What happens to collected messages past ``collect_cap``."""
    default_mode: QueueMode = attrs.field(default=QueueMode.FOLLOWUP, converter=QueueMode)
    """The mode a submission gets when it names none. ``admit`` itself always uses the
    turn's own ``mode``; the submitter fills this in."""


@attrs.frozen
class PendingTurn:
    """A turn accepted into a session's queue."""

    turn_id: str
    """Unique within the session; outcomes name it."""
    lane: str
    """The lane that submitted the turn; sets its priority."""
    text: str
    """The user text."""
    mode: QueueMode = attrs.field(converter=QueueMode)
    """How it was queued. A steer that fell back is stored as ``followup``."""
    accepted_time: float
    """When the owner accepted it (epoch seconds)."""


@attrs.frozen
class RunningTurn:
    """The turn a session is running now, as ``admit`` needs to know it."""

    turn_id: str
    lane: str


@attrs.frozen
class _Entry:
    """A waiting turn and its arrival number (which breaks ties within a priority)."""

    seq: int
    turn: PendingTurn


@attrs.frozen
class SessionQueue:
    """What is waiting in one session. Build the empty one with ``SessionQueue()``."""

    run_next: tuple[PendingTurn, ...] = ()
    """Interrupting turns, in arrival order; they run before anything else.
    It is a sequence rather than one slot so that a second interrupt, arriving before the
    first has started, neither loses the first nor needs an outcome of its own."""
    pending: tuple[_Entry, ...] = ()
    """Followups (and steers that fell back), in arrival order."""
    collecting: tuple[_Entry, ...] = ()
    """The collect buffer, in arrival order."""
    collect_deadline: float | None = None
    """When the collect buffer is quiet enough to run: last arrival + ``collect_window``.
    Invariant: ``None`` exactly when ``collecting`` is empty."""
    arrivals: int = 0
    """How many turns have entered the queue; the next arrival number."""


# --- decisions --------------------------------------------------------------------------


@attrs.frozen
class Queued:
    """The turn waits; ``position`` 0 runs next (see ``snapshot``)."""

    position: int
    fell_back_from: QueueMode | None = None
    """``QueueMode.STEER`` when a steer could not steer (nothing running, or the running
    turn's provider cannot take input mid-turn) and was queued as a followup."""


@attrs.frozen
class Refused:
    """The turn was not accepted; the submitter gets this reason."""

    reason: RefusalReason


@attrs.frozen
class Steered:
    """The owner hands the text to the running turn ``into_turn_id``."""

    into_turn_id: str


@attrs.frozen
class Interrupting:
    """The owner aborts ``running_turn_id`` (reason ``interrupted``); this turn runs next."""

    running_turn_id: str


@attrs.frozen
class Collecting:
    """The turn is in the collect buffer, which is ready at ``deadline`` at the latest."""

    deadline: float


Decision = Queued | Refused | Steered | Interrupting | Collecting
"""Every answer ``admit`` can give."""


@attrs.frozen
class Admission:
    """What ``admit`` returns."""

    queue: SessionQueue
    decision: Decision


@attrs.frozen
class Merged:
    """Turn ``turn_id`` was coalesced into ``into_turn_id`` and ends ``merged``."""

    turn_id: str
    into_turn_id: str


@attrs.frozen
class Dropped:
    """Turn ``turn_id`` was dropped by the drop policy and will not run."""

    turn_id: str
    reason: DropReason = DropReason.DROPPED


@attrs.frozen
class Taken:
    """What ``take_next`` returns."""

    queue: SessionQueue
    turn: PendingTurn | None
    """The turn to run now, or ``None`` when nothing is ready."""
    merged: tuple[Merged, ...] = ()
    """Turns coalesced into ``turn`` (collect mode)."""
    dropped: tuple[Dropped, ...] = ()
    """Turns the drop policy removed."""


# --- operations -------------------------------------------------------------------------


def admit(
    queue: SessionQueue,
    turn: PendingTurn,
    *,
    running: RunningTurn | None,
    can_steer: bool,
    policy: QueuePolicy,
    now: float,
) -> Admission:
    """Decide what happens to a newly submitted turn.

    Checked in this order: a heartbeat while busy is refused (``heartbeat_skipped``); a
    steer into a running turn that can take it is ``Steered``; a full queue refuses
    (``busy``); otherwise the turn enters the queue by its mode.

    Args:
        queue: the session's queue now.
        turn: the new turn.
        running: the turn the session is running, if any.
        can_steer: whether the running turn's provider accepts input mid-turn.
        policy: the session's queue policy.
        now: the current time (epoch seconds); sets a collect buffer's deadline.

    Raises:
        ValueError: ``turn.turn_id`` is already queued or running (a caller bug: outcomes
            are addressed by turn id).
    """
    if (running is not None and running.turn_id == turn.turn_id) or _contains(queue, turn.turn_id):
        raise ValueError(f"turn id {turn.turn_id!r} is already queued or running")
    waiting = depth(queue)
    if lane_kind(turn.lane) is LaneKind.HEARTBEAT and (running is not None or waiting):
        return Admission(queue, Refused(RefusalReason.HEARTBEAT_SKIPPED))
    if turn.mode is QueueMode.STEER and running is not None and can_steer:
        return Admission(queue, Steered(running.turn_id))
    if waiting >= policy.max_queued:
        return Admission(queue, Refused(RefusalReason.BUSY))

    entry = _Entry(queue.arrivals, turn)
    counted = attrs.evolve(queue, arrivals=queue.arrivals + 1)
    match turn.mode:
        case QueueMode.INTERRUPT:
            new = attrs.evolve(counted, run_next=(*queue.run_next, turn))
            if running is not None:
                return Admission(new, Interrupting(running.turn_id))
            return Admission(new, Queued(_position(new, turn.turn_id)))
        case QueueMode.COLLECT:
            deadline = now + policy.collect_window
            new = attrs.evolve(
                counted, collecting=(*queue.collecting, entry), collect_deadline=deadline
            )
            return Admission(new, Collecting(deadline))
        case _:
            fell_back = QueueMode.STEER if turn.mode is QueueMode.STEER else None
            if fell_back is not None:
                entry = _Entry(entry.seq, attrs.evolve(turn, mode=QueueMode.FOLLOWUP))
            new = attrs.evolve(counted, pending=(*queue.pending, entry))
            return Admission(new, Queued(_position(new, turn.turn_id), fell_back_from=fell_back))


def restore(queue: SessionQueue, turn: PendingTurn, *, started: bool = False) -> SessionQueue:
    """Put back a turn that was already accepted (replayed after an owner crash).

    It was acknowledged once, so no admission rule may refuse it now: it joins the
    followups as they are, past the cap and whatever its lane, in its original order.
    A ``started`` turn (its user entry is already in the transcript) runs first, whatever
    its lane: another turn run before it would split it in the file (found on the
    namespace bed: a replayed cron turn's reply came after a newer main-lane turn).
    """
    if _contains(queue, turn.turn_id):
        raise ValueError(f"turn id {turn.turn_id!r} is already queued")
    if started:
        return attrs.evolve(queue, run_next=(attrs.evolve(turn, mode=QueueMode.FOLLOWUP), *queue.run_next))
    entry = _Entry(queue.arrivals, attrs.evolve(turn, mode=QueueMode.FOLLOWUP))
    return attrs.evolve(queue, pending=(*queue.pending, entry), arrivals=queue.arrivals + 1)


def take_next(queue: SessionQueue, *, policy: QueuePolicy, now: float) -> Taken:
    """Remove and return the turn to run now.

    Interrupts come first. Then the best of the followups and, if it is ready, the collect
    buffer, by (lane priority, arrival). The buffer is ready when ``now`` has reached its
    deadline or it holds ``collect_cap`` messages; a buffer that is not ready is passed
    over, and ``turn`` is ``None`` when nothing else waits.
    """
    if queue.run_next:
        first, *rest = queue.run_next
        return Taken(attrs.evolve(queue, run_next=tuple(rest)), first)

    best = min(queue.pending, key=_entry_order, default=None)
    buffer_ready = bool(queue.collecting) and (
        (queue.collect_deadline is not None and now >= queue.collect_deadline)
        or len(queue.collecting) >= policy.collect_cap
    )
    if buffer_ready and (best is None or _buffer_order(queue.collecting) < _entry_order(best)):
        turn, merged, dropped = _coalesce(tuple(e.turn for e in queue.collecting), policy)
        emptied = attrs.evolve(queue, collecting=(), collect_deadline=None)
        return Taken(emptied, turn, merged, dropped)
    if best is None:
        return Taken(queue, None)
    remaining = tuple(e for e in queue.pending if e is not best)
    return Taken(attrs.evolve(queue, pending=remaining), best.turn)


def next_wakeup(queue: SessionQueue) -> float | None:
    """When an idle owner should call ``take_next`` again: the collect deadline, if any."""
    return queue.collect_deadline


def cancel(queue: SessionQueue, turn_id: str) -> tuple[SessionQueue, bool]:
    """Remove a waiting turn (an admin cancel). Returns the new queue and whether it was
    found. The collect deadline is kept: it measures quiet since the last arrival, and a
    cancel is not an arrival."""
    if any(t.turn_id == turn_id for t in queue.run_next):
        run_next = tuple(t for t in queue.run_next if t.turn_id != turn_id)
        return attrs.evolve(queue, run_next=run_next), True
    if any(e.turn.turn_id == turn_id for e in queue.pending):
        pending = tuple(e for e in queue.pending if e.turn.turn_id != turn_id)
        return attrs.evolve(queue, pending=pending), True
    if any(e.turn.turn_id == turn_id for e in queue.collecting):
        collecting = tuple(e for e in queue.collecting if e.turn.turn_id != turn_id)
        deadline = queue.collect_deadline if collecting else None
        return attrs.evolve(queue, collecting=collecting, collect_deadline=deadline), True
    return queue, False


def depth(queue: SessionQueue) -> int:
    """How many turns wait (each collected message counts)."""
    return len(queue.run_next) + len(queue.pending) + len(queue.collecting)


def snapshot(queue: SessionQueue) -> tuple[PendingTurn, ...]:
    """Every waiting turn in the order they would run if the collect buffer were ready.

    The collect buffer's messages appear together, in arrival order, where the buffer
    would run.
    """
    blocks: list[tuple[tuple[int, int], tuple[PendingTurn, ...]]] = [
        (_entry_order(e), (e.turn,)) for e in queue.pending
    ]
    if queue.collecting:
        members = tuple(e.turn for e in queue.collecting)
        blocks.append((_buffer_order(queue.collecting), members))
    blocks.sort(key=lambda block: block[0])
    ordered = itertools.chain.from_iterable(turns for _, turns in blocks)
    return (*queue.run_next, *ordered)


def drain(queue: SessionQueue) -> tuple[SessionQueue, tuple[str, ...]]:
    """Empty the queue for shutdown. Returns the empty queue and the id of every turn that
    was waiting (in run order), so the owner can give each one an outcome."""
    ids = tuple(t.turn_id for t in snapshot(queue))
    return SessionQueue(arrivals=queue.arrivals), ids


# --- helpers ----------------------------------------------------------------------------


def _contains(queue: SessionQueue, turn_id: str) -> bool:
    # Not through ``snapshot``: the order does not matter here, and sorting the queue on
    # every admission made a deep queue's admissions cost more than the rest of the intake.
    return (any(t.turn_id == turn_id for t in queue.run_next)
            or any(e.turn.turn_id == turn_id for e in queue.pending)
            or any(e.turn.turn_id == turn_id for e in queue.collecting))


def _position(queue: SessionQueue, turn_id: str) -> int:
    return next(i for i, t in enumerate(snapshot(queue)) if t.turn_id == turn_id)


def _entry_order(entry: _Entry) -> tuple[int, int]:
    return (lane_priority(entry.turn.lane), entry.seq)


def _buffer_order(collecting: tuple[_Entry, ...]) -> tuple[int, int]:
    # The buffer competes as one turn: the best priority among all buffered messages
    # (dropped ones included: they arrived and waited too), at its first arrival.
    return (min(lane_priority(e.turn.lane) for e in collecting), collecting[0].seq)


def _coalesce(
    members: tuple[PendingTurn, ...], policy: QueuePolicy
) -> tuple[PendingTurn, tuple[Merged, ...], tuple[Dropped, ...]]:
    """Make one turn of a non-empty collect buffer, applying the drop policy."""
    cap = policy.collect_cap
    summarized: tuple[PendingTurn, ...] = ()
    dropped: tuple[PendingTurn, ...] = ()
    kept = members
    if len(members) > cap:
        match policy.drop_policy:
            case DropPolicy.OLD:
                dropped, kept = members[:-cap], members[-cap:]
            case DropPolicy.NEW:
                kept, dropped = members[:cap], members[cap:]
            case DropPolicy.SUMMARIZE:
                split = len(members) - (cap - 1)
                summarized, kept = members[:split], members[split:]
    # The carrier is the oldest message that is part of the turn: its submitter gets the
    # reply, and every other member's outcome points at it.
    included = (*summarized, *kept)
    carrier = included[0]
    lines = [_summary_line(t.text) for t in summarized] + [t.text for t in kept]
    turn = attrs.evolve(carrier, text="\n".join(lines), mode=QueueMode.COLLECT)
    merged = tuple(Merged(t.turn_id, carrier.turn_id) for t in included[1:])
    return turn, merged, tuple(Dropped(t.turn_id) for t in dropped)


def _summary_line(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > SUMMARY_PREVIEW_CHARS:
        flat = flat[:SUMMARY_PREVIEW_CHARS] + "…"
    return f"[dropped] {flat}"
