"""The recovery ladder: warn, nudge, abort, replace, as a pure state machine per session.

The recovery actor keeps one ``EscalationState`` per session. Every tick it queries the
owner and calls ``decide`` with what came back (an ``OwnerStatus``, or ``NoAnswer`` when
the owner did not reply within the tick), then sends the returned action and records it
with ``record_decision``.

Every action that touches a turn carries the turn id it was decided on, and the owner
ignores an action whose turn is not its current one. So an abort decided for a stalled
turn can never hit the newer turn that replaced it: the failure openclaw's recovery had
when it aborted a run and re-fired a second copy on the same file. Recovery here never
submits or re-runs a turn; its strongest step is asking the Directory for a new owner.

The ladder, per turn:

- ``long_running`` (still streaming, just old): ``Warn`` once per turn.
- ``stalled``: ``Nudge`` once; if progress resumes the nudge was effective and a later
  stall may be nudged again.
- ``stuck``: ``Abort``; if the same turn is still current at the first observation past
  ``abort_grace``, the abort was ineffective and the owner is ``Replace``d.
- ``wedged_after_misses`` status queries in a row unanswered *and* no answer for
  ``effective_wedged_after`` seconds of wall time: ``Replace``. The Directory checks again
  before it acts (the owner must be live, its process alive, and silent to it as well),
  and backs off or parks a file that keeps needing replacement.

A new turn id resets the ladder.
"""

from __future__ import annotations

import attrs

from sessionward.recovery.history import ActionKind, RecoveryAction, RecoveryHistory
from sessionward.recovery.stall import Health, Thresholds, classify

# Observations ----------------------------------------------------------------------------


@attrs.frozen
class OwnerStatus:
    """The owner's answer to a status query (built by the recovery actor from its reply)."""

    turn_id: str | None
    """The current turn's id; ``None`` when the owner is idle."""
    turn_started_time: float | None
    """When the current turn started (epoch seconds)."""
    last_progress_time: float | None
    """When the current turn's stream last produced an event; ``None`` if it has not yet."""
    queue_depth: int = 0
    """Turns waiting behind the current one (informational; the ladder does not use it)."""


@attrs.frozen
class NoAnswer:
    """The owner did not answer a status query within the tick."""


Observation = OwnerStatus | NoAnswer

# Actions ---------------------------------------------------------------------------------


@attrs.frozen
class NoAction:
    """Nothing to do this tick."""


@attrs.frozen
class Warn:
    """Log that a turn runs long. Sent at most once per turn."""

    turn_id: str


@attrs.frozen
class Nudge:
    """Ask the owner to ping the worker streaming ``turn_id``."""

    turn_id: str


@attrs.frozen
class Abort:
    """Ask the owner to fail ``turn_id`` as stalled (and only that turn)."""

    turn_id: str


@attrs.frozen
class Replace:
    """Ask the Directory to replace the session's owner."""

    turn_id: str | None = None
    """The last turn the owner reported, for the record. A replace acts on the owner."""
    why: str = "silent"
    """``silent`` (no answer for ``wedged_after``) or ``abort_ineffective`` (the owner
    answers but its aborted turn is still current). The Directory ends only a silent owner:
    see ``sessionward.recovery.liveness.judge``."""


Action = NoAction | Warn | Nudge | Abort | Replace

_KIND_OF: dict[type, ActionKind] = {
    Warn: ActionKind.WARN,
    Nudge: ActionKind.NUDGE,
    Abort: ActionKind.ABORT,
    Replace: ActionKind.REPLACE,
}

# State -----------------------------------------------------------------------------------


@attrs.frozen
class PendingStep:
    """A nudge, abort or replace whose effect is not known yet."""

    kind: ActionKind
    turn_id: str | None
    action_time: float
    progress_mark: float | None = None
    """For a nudge: the turn's ``last_progress_time`` when nudged. A later one is progress."""


@attrs.frozen
class Resolution:
    """A pending step that the latest observation settled; feed it to the history."""

    kind: ActionKind
    turn_id: str | None
    effective: bool


@attrs.frozen
class EscalationState:
    """One session's place on the ladder. Start from ``EscalationState()``."""

    turn_id: str | None = None
    """The turn the ladder is bound to: the last one the owner reported."""
    warned: bool = False
    """Whether ``turn_id`` has had its long-running warning."""
    missed_answers: int = 0
    """Status queries in a row that the owner did not answer."""
    heard_time: float | None = None
    """When the owner last answered (or, before any answer, when it was first observed).

    The wedge rule reads this, not the count of misses alone: an owner is replaced only
    after ``effective_wedged_after`` seconds of silence by the wall clock, however short
    the tick. Counting misses alone turned a slow fsync into a replacement loop.
    """
    pending: PendingStep | None = None
    """Invariant: at most one step awaits judgement, because each rung settles the last."""
    resolution: Resolution | None = None
    """The step settled by the ``decide`` call that returned this state, if any.

    Only meaningful on the value just returned; ``decide`` clears it on the next call.
    """


# The ladder ------------------------------------------------------------------------------


def decide(
    state: EscalationState, observation: Observation, now: float, thresholds: Thresholds
) -> tuple[EscalationState, Action]:
    """Take one step of the ladder.

    Args:
        state: The session's state from the previous call.
        observation: The owner's status, or ``NoAnswer``.
        now: The current time (epoch seconds).
        thresholds: The timings to apply.

    Returns:
        The new state and the one action to take now (``NoAction`` when none). When the
        new state's ``resolution`` is set, a pending step was judged at this observation.
    """
    state = attrs.evolve(state, resolution=None)
    if isinstance(observation, NoAnswer):
        return _no_answer(state, now, thresholds)
    return _answered(state, observation, now, thresholds)


def _settle(state: EscalationState, *, effective: bool) -> EscalationState:
    """Judge the pending step (if any) and clear it."""
    if state.pending is None:
        return state
    resolution = Resolution(state.pending.kind, state.pending.turn_id, effective)
    return attrs.evolve(state, pending=None, resolution=resolution)


def _replace(state: EscalationState, now: float, why: str = "silent") -> tuple[EscalationState, Action]:
    """Give up on the owner: a fresh ladder whose only memory is the pending replace.

    The old turn binding goes too, so a new owner that replays the same turn id from its
    inbox starts that turn's ladder from the bottom instead of being replaced again.
    """
    action = Replace(turn_id=state.turn_id, why=why)
    fresh = EscalationState(
        resolution=state.resolution,
        pending=PendingStep(ActionKind.REPLACE, state.turn_id, now),
    )
    return fresh, action


def _no_answer(
    state: EscalationState, now: float, thresholds: Thresholds
) -> tuple[EscalationState, Action]:
    missed = state.missed_answers + 1
    heard = now if state.heard_time is None else state.heard_time
    silent_for = now - heard
    if missed < thresholds.wedged_after_misses or silent_for < thresholds.effective_wedged_after:
        return attrs.evolve(state, missed_answers=missed, heard_time=heard), NoAction()
    # The owner went silent with a step pending: whatever that step was, it did not help.
    return _replace(_settle(state, effective=False), now)


def _answered(
    state: EscalationState, status: OwnerStatus, now: float, thresholds: Thresholds
) -> tuple[EscalationState, Action]:
    state = _follow(attrs.evolve(state, missed_answers=0, heard_time=now), status)
    if status.turn_id is None:
        return state, NoAction()
    pending = state.pending
    if pending is not None and pending.kind is ActionKind.ABORT:
        if now - pending.action_time < thresholds.effective_abort_grace:
            return state, NoAction()
        # Same turn still current past the grace: the owner could not end it.
        return _replace(_settle(state, effective=False), now, "abort_ineffective")
    if pending is not None and pending.kind is ActionKind.NUDGE and _progressed(pending, status):
        state = _settle(state, effective=True)
    return _climb(state, status, now, thresholds)


def _follow(state: EscalationState, status: OwnerStatus) -> EscalationState:
    """Settle what an answer settles by itself and bind the ladder to the reported turn."""
    if state.pending is not None and state.pending.kind is ActionKind.REPLACE:
        # An owner answers again: the replacement worked.
        state = _settle(state, effective=True)
    if status.turn_id != state.turn_id:
        # The bound turn ended (completed, failed, or aborted by us): whatever step was
        # pending for it cleared the problem, or the problem cleared itself. A new turn
        # starts at the bottom of the ladder, unwarned.
        state = _settle(state, effective=True)
        state = attrs.evolve(state, turn_id=status.turn_id, warned=False)
    return state


def _climb(
    state: EscalationState, status: OwnerStatus, now: float, thresholds: Thresholds
) -> tuple[EscalationState, Action]:
    """Pick the rung the turn's health calls for. No abort is pending here."""
    turn_id = status.turn_id
    assert turn_id is not None  # _answered returned already for an idle owner
    health = classify(
        turn_started_time=status.turn_started_time,
        last_progress_time=status.last_progress_time,
        now=now,
        thresholds=thresholds,
    )
    if health is Health.STUCK:
        # A pending nudge did not help. A turn first seen stuck (say, recovery restarted)
        # is aborted at once: the nudge is a courtesy, not a precondition.
        state = _settle(state, effective=False)
        pending_abort = PendingStep(ActionKind.ABORT, turn_id, now)
        return attrs.evolve(state, pending=pending_abort), Abort(turn_id)
    if health is Health.STALLED:
        if state.pending is not None:
            return state, NoAction()  # nudged already; wait for progress or for stuck
        pending_nudge = PendingStep(ActionKind.NUDGE, turn_id, now, status.last_progress_time)
        return attrs.evolve(state, pending=pending_nudge), Nudge(turn_id)
    if health is Health.LONG_RUNNING and not state.warned:
        return attrs.evolve(state, warned=True), Warn(turn_id)
    return state, NoAction()


def _progressed(pending: PendingStep, status: OwnerStatus) -> bool:
    if status.last_progress_time is None:
        return False
    return pending.progress_mark is None or status.last_progress_time > pending.progress_mark


# Recording -------------------------------------------------------------------------------


def record_decision(
    history: RecoveryHistory,
    session_key: str,
    state: EscalationState,
    action: Action,
    now: float,
) -> RecoveryHistory:
    """Apply one ``decide`` result to the history: judge the settled step, then log the action.

    Read with ``decide``: the order matters. A nudge settled as ineffective by the same
    call that returns an ``Abort`` for that turn must be judged before the abort is
    logged, or the new abort would be judged along with it.
    """
    if state.resolution is not None:
        history = history.resolve(
            session_key, state.resolution.turn_id, state.resolution.effective, now
        )
    kind = _KIND_OF.get(type(action))
    if kind is not None and not isinstance(action, NoAction):  # every other action names a turn
        history = history.record(RecoveryAction(kind, session_key, action.turn_id, now))
    return history
