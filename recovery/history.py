"""Recovery history: what recovery did to which turn, and whether it helped.

A bounded, frozen log. Every change returns a new ``RecoveryHistory`` (as attrs
``evolve`` does), so the recovery actor can hand a snapshot to a status query without
copying and without a reader ever seeing a half-made change.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from sessionward.errors import BadInputError


class ActionKind(enum.StrEnum):
    """What recovery did."""

    WARN = "warn"
    """Logged that a turn runs long; asked nothing of the owner."""
    NUDGE = "nudge"
    """Asked the owner to ping its worker's stream."""
    ABORT = "abort"
    """Asked the owner to fail one turn as stalled."""
    REPLACE = "replace"
    """Asked the Directory to replace an owner that stopped answering."""


class ActionOutcome(enum.StrEnum):
    """Whether an action helped."""

    PENDING = "pending"
    """Not judged yet. A warning asks nothing of the owner, so it stays pending."""
    EFFECTIVE = "effective"
    """The turn progressed or ended, or the owner answered again."""
    INEFFECTIVE = "ineffective"
    """Nothing changed, so recovery went a rung up its ladder."""


@attrs.frozen
class RecoveryAction:
    """One thing recovery did."""

    kind: ActionKind
    """What was done."""
    session_key: str
    """The session whose owner was acted on."""
    turn_id: str | None
    """The turn it was aimed at; ``None`` for a replace when the owner never named a turn."""
    action_time: float
    """When it was done (epoch seconds)."""
    outcome: ActionOutcome = ActionOutcome.PENDING
    """Whether it helped."""
    resolved_time: float | None = None
    """When the outcome was decided (epoch seconds); ``None`` while pending."""


def _positive_cap(_instance: object, _attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInputError(f"cap must be an integer of at least 1, got {value!r}")


@attrs.frozen
class RecoveryHistory:
    """The last ``cap`` recovery actions, oldest first.

    Example:
        history = RecoveryHistory().record(RecoveryAction(ActionKind.NUDGE, "k", "t1", now))
        history = history.resolve("k", "t1", progressed=True, now=now + 30)
    """

    actions: tuple[RecoveryAction, ...] = ()
    """Invariant: oldest first, in the order recorded, at most ``cap`` long."""
    cap: int = attrs.field(default=1000, validator=_positive_cap)
    """How many actions are kept; the oldest are dropped first."""

    def record(self, action: RecoveryAction) -> RecoveryHistory:
        """Return a history with ``action`` appended (and the oldest dropped past ``cap``)."""
        # Copying up to ``cap`` references per action is cheap at recovery's pace (a few
        # actions per tick), and it keeps every snapshot immutable.
        return attrs.evolve(self, actions=(*self.actions, action)[-self.cap :])

    def resolve(
        self, session_key: str, turn_id: str | None, progressed: bool, now: float
    ) -> RecoveryHistory:
        """Judge the pending actions aimed at one turn of one session.

        Every pending nudge, abort or replace for ``(session_key, turn_id)`` becomes
        effective when ``progressed``, else ineffective. Warnings and actions already
        judged are left alone. Returns ``self`` when nothing matched.
        """
        outcome = ActionOutcome.EFFECTIVE if progressed else ActionOutcome.INEFFECTIVE

        def judged(action: RecoveryAction) -> RecoveryAction:
            if (
                action.outcome is ActionOutcome.PENDING
                and action.kind is not ActionKind.WARN
                and action.session_key == session_key
                and action.turn_id == turn_id
            ):
                return attrs.evolve(action, outcome=outcome, resolved_time=now)
            return action

        actions = tuple(judged(action) for action in self.actions)
        return attrs.evolve(self, actions=actions) if actions != self.actions else self

    def since(self, t: float) -> tuple[RecoveryAction, ...]:
        """The actions taken at or after ``t`` (epoch seconds), oldest first."""
        return tuple(action for action in self.actions if action.action_time >= t)

    def counts_since(self, t: float) -> dict[ActionKind, int]:
        """How many actions of each kind were taken at or after ``t``; every kind is a key."""
        counts = dict.fromkeys(ActionKind, 0)
        for action in self.since(t):
            counts[action.kind] += 1
        return counts


@attrs.frozen
class QueryRecoveryHistory:
    """Ask the recovery actor for its recorded actions. Answered by ``RecoveryHistoryReply``."""

    request_id: str
    since_time: float = 0.0
    """Only actions at or after this time (epoch seconds)."""


@attrs.frozen
class RecoveryHistoryReply:
    """Recovery's recorded actions (``Runtime.recovery_history``)."""

    request_id: str
    actions: tuple[RecoveryAction, ...]
    """Oldest first, within the history's bound."""
    counts_last_hour: dict[str, int]
    """Actions of the last hour, counted by kind."""
    ticks: int
    """Recovery ticks run so far."""
