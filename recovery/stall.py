"""Stall detection: how healthy is a session's current turn, given its times and ``now``.

Pure: the caller passes the owner's snapshot times and the current time; nothing here
reads the clock, so tests state literal times and the recovery actor stays thin.

Progress means stream events, never wall time. A turn that has streamed for 20 minutes
and is still streaming is ``long_running``; it is never ``stalled``. This is the rule that
openclaw's stuck-session recovery lacked: it judged a run by its age, aborted healthy
22-minute runs, and re-fired them on the same file.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs

from sessionward.errors import BadInputError


class Health(enum.StrEnum):
    """How a session's current turn is doing. Ordered from best to worst."""

    HEALTHY = "healthy"
    """Idle, or a turn that streamed recently and is not yet old."""
    LONG_RUNNING = "long_running"
    """Still streaming, but older than ``long_running_after``: worth a warning, no more."""
    STALLED = "stalled"
    """No stream progress for ``stall_after`` seconds."""
    STUCK = "stuck"
    """No stream progress for ``effective_abort_after`` seconds: the turn should be aborted."""


def _seconds(*, allow_zero: bool = False) -> Callable[[object, attrs.Attribute[Any], float | None], None]:
    """An attrs validator: a finite number of seconds, positive (or zero when allowed)."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is None:
            return
        low_ok = value >= 0 if allow_zero else value > 0
        if not (math.isfinite(value) and low_ok):
            bound = "zero or more" if allow_zero else "positive"
            raise BadInputError(
                f"{attribute.name} must be a finite {bound} number of seconds, got {value!r}"
            )

    return check


def _at_least_one(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInputError(f"{attribute.name} must be an integer of at least 1, got {value!r}")


@attrs.frozen
class Thresholds:
    """The recovery timings, in seconds (``..._after`` values are durations, not instants).

    Raises:
        BadInputError: a duration is not finite and positive, the thresholds are out of
            order (see ``check_order``), or ``wedged_after_misses`` is below 1.
    """

    recovery_tick: float = attrs.field(default=30.0, validator=_seconds())
    """How often recovery queries every owner's state."""
    stall_after: float = attrs.field(default=120.0, validator=_seconds())
    """A turn with no stream progress for this long is stalled (recovery nudges it)."""
    abort_after: float | None = attrs.field(default=None, validator=_seconds())
    """A turn with no stream progress for this long is stuck (recovery aborts it).

    ``None`` means ``max(300, 3 * stall_after)``; read ``effective_abort_after``.
    """
    long_running_after: float = attrs.field(default=600.0, validator=_seconds())
    """A turn older than this that still streams is long running (recovery warns once)."""
    wedged_after_misses: int = attrs.field(default=2, validator=_at_least_one)
    """Consecutive unanswered status queries after which the owner is replaced.

    Two, not one: a single miss can be a busy host or a slow pickle round trip, and
    replacing a live owner costs its queue a restart.
    """
    abort_grace: float | None = attrs.field(default=None, validator=_seconds(allow_zero=True))
    """How long an owner has to end an aborted turn before the abort counts as ineffective.

    ``None`` means one ``recovery_tick``; read ``effective_abort_grace``.
    """
    wedged_after: float | None = attrs.field(default=None, validator=_seconds())
    """How long a live owner must leave every query unanswered before it counts as wedged.

    A wall-clock floor, independent of the tick: a slow disk (an fsync taking seconds) or a
    busy CPU makes a healthy owner silent for a while, and replacing it for that is the
    churn this runtime exists to prevent. ``None`` means ``max(60, 5 * recovery_tick,
    effective_abort_after + recovery_tick)``; read ``effective_wedged_after``.
    """

    def __attrs_post_init__(self) -> None:
        check_order(self)

    @property
    def effective_wedged_after(self) -> float:
        """``wedged_after``, or ``max(60, 5 * recovery_tick, effective_abort_after + recovery_tick)``.

        60 s is the floor the issue of record asks for; the other two terms keep the order
        ``recovery_tick < stall_after < abort_after < wedged_after`` and at least five ticks
        of silence when the thresholds are long (the defaults give 390 s).
        """
        if self.wedged_after is not None:
            return self.wedged_after
        return max(MIN_WEDGED_AFTER, WEDGED_TICKS * self.recovery_tick,
                   self.effective_abort_after + self.recovery_tick)

    @property
    def effective_abort_after(self) -> float:
        """``abort_after``, or ``max(300, 3 * stall_after)`` when it is not set.

        Three stall periods leave room for a nudge to work, and five minutes is a floor
        because a model that thinks silently before its first token can take minutes.
        """
        if self.abort_after is not None:
            return self.abort_after
        return max(300.0, 3 * self.stall_after)

    @property
    def effective_abort_grace(self) -> float:
        """``abort_grace``, or one ``recovery_tick`` when it is not set."""
        return self.recovery_tick if self.abort_grace is None else self.abort_grace


MIN_WEDGED_AFTER = 60.0
"""The default floor of ``wedged_after`` (seconds)."""
WEDGED_TICKS = 5
"""``wedged_after`` is never shorter than this many ticks: a handful of missed sweeps is
noise on a loaded machine, not evidence."""


def check_order(t: Thresholds) -> None:
    """Raise ``BadInputError`` in one line unless ``tick < stall_after < abort_after <
    wedged_after`` and ``wedged_after >= 5 ticks``.

    A tick longer than the stall it should catch would miss it; an abort before a stall
    skips the nudge; a wedge floor under the abort threshold would replace an owner for
    the silence of a turn that recovery would otherwise just abort.
    """
    abort, wedged = t.effective_abort_after, t.effective_wedged_after
    if not t.recovery_tick < t.stall_after < abort < wedged:
        raise BadInputError(
            "recovery thresholds must satisfy recovery_tick < stall_after < abort_after < wedged_after, "
            f"got {t.recovery_tick:g} < {t.stall_after:g} < {abort:g} < {wedged:g}"
        )
    if wedged < WEDGED_TICKS * t.recovery_tick:
        raise BadInputError(
            f"wedged_after ({wedged:g} s) must be at least {WEDGED_TICKS} recovery ticks "
            f"({WEDGED_TICKS * t.recovery_tick:g} s)"
        )


def classify(
    *,
    turn_started_time: float | None,
    last_progress_time: float | None,
    now: float,
    thresholds: Thresholds,
) -> Health:
    """Classify the owner's current turn.

    Args:
        turn_started_time: When the current turn started (epoch seconds), ``None`` when idle.
        last_progress_time: When the turn's stream last produced an event, ``None`` if it
            has produced none yet.
        now: The current time (epoch seconds).
        thresholds: The timings to apply.

    Returns:
        ``HEALTHY`` when idle. Otherwise the silence (time since the later of the turn's
        start and its last progress) decides ``STUCK`` or ``STALLED``; a turn that is not
        silent but is older than ``long_running_after`` is ``LONG_RUNNING``. Each bound is
        inclusive: silence of exactly ``stall_after`` is stalled.
    """
    if turn_started_time is None:
        return Health.HEALTHY
    # The later of the two: a progress time from before this turn started belongs to an
    # earlier turn and must not make this one look stalled.
    if last_progress_time is None:
        silent_since = turn_started_time
    else:
        silent_since = max(turn_started_time, last_progress_time)
    silence = now - silent_since
    if silence >= thresholds.effective_abort_after:
        return Health.STUCK
    if silence >= thresholds.stall_after:
        return Health.STALLED
    if now - turn_started_time >= thresholds.long_running_after:
        return Health.LONG_RUNNING
    return Health.HEALTHY
