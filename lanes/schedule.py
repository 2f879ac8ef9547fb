"""Timer lanes as pure decisions: when the heartbeat and cron jobs fire, and what a tick does.

A lane actor keeps a state record, sets a timer for the state's next time, and on each
timer calls ``on_tick`` with the current time and what it knows about the session. The
answer says what to do (submit a turn, or skip and why) and carries the next state, whose
counters say how often each thing happened. Nothing here reads the clock or sleeps, and
randomness (the heartbeat's jitter) comes from a ``random.Random`` the caller owns.

A tick that comes early (a stray or early timer) answers ``NotDue`` and changes nothing, so
a lane can never fire twice for one due time.

Heartbeat
    Due every ``every`` seconds, each interval stretched or shrunk by up to ``jitter``. A
    due tick outside ``active_hours`` is skipped (``SkipInactive``); a due tick while the
    session is busy is skipped (``SkipBusy``), never queued, so heartbeats do not pile up
    behind real work; otherwise it submits (``Submit``). Either way the next one is due one
    interval after this tick.

Cron
    A five-field cron expression in the job's time zone (via croniter, so daylight saving
    time is handled: ``0 9 * * *`` in Europe/Berlin is 09:00 local in summer and winter),
    or a fixed interval. A due tick while the previous run is still active is skipped and
    counted (``SkipOverlap``): runs never overlap or pile up. A tick that arrives after
    several due times fires once; the others count as ``missed``. After downtime,
    ``resume`` reports the ticks that should have fired meanwhile; they are reported, not
    run. On the autumn daylight-saving night a local time that happens twice (``30 2 * * *``
    in Europe/Berlin) fires at both instants, as croniter computes it.
"""

from __future__ import annotations

import datetime
import math
import random
import zoneinfo

import attrs
from croniter import croniter

from sessionward.lanes.config import CronJobConfig, HeartbeatConfig, clock_minutes

_DAY_MINUTES = 24 * 60


@attrs.frozen
class NotDue:
    """The tick came before ``due_time``: do nothing, set the timer again."""

    due_time: float


# --- heartbeat --------------------------------------------------------------------------


@attrs.frozen
class Submit:
    """Submit a heartbeat turn with this text."""

    prompt: str


@attrs.frozen
class SkipBusy:
    """The session was busy; this heartbeat is skipped (counted in ``skipped_busy``)."""


@attrs.frozen
class SkipInactive:
    """Outside the active hours; this heartbeat is skipped (counted in ``skipped_inactive``)."""


HeartbeatAction = Submit | SkipBusy | SkipInactive | NotDue
"""Every answer ``HeartbeatSchedule.on_tick`` can give."""


@attrs.frozen
class HeartbeatState:
    """Where a heartbeat lane stands."""

    next_due_time: float
    """When the next heartbeat is due (epoch seconds)."""
    submitted: int = 0
    """Heartbeats submitted."""
    skipped_busy: int = 0
    """Heartbeats skipped because the session was busy."""
    skipped_inactive: int = 0
    """Heartbeats skipped because they fell outside the active hours."""


@attrs.frozen
class HeartbeatSchedule:
    """The heartbeat timing of one agent."""

    config: HeartbeatConfig

    def start(self, now: float, rng: random.Random) -> HeartbeatState:
        """The state of a lane started at ``now``: the first heartbeat is one interval out
        (a restart does not fire a heartbeat at once)."""
        return HeartbeatState(next_due_time=self.next_due(now, rng))

    def next_due(self, after: float, rng: random.Random) -> float:
        """``after`` plus ``every``, scaled by a random factor in ``1 ± jitter``."""
        jitter = self.config.jitter
        factor = 1.0 + rng.uniform(-jitter, jitter) if jitter else 1.0
        every: float = self.config.every
        return after + every * factor

    def in_active_hours(self, now: float) -> bool:
        """Whether ``now`` is inside the active hours (always, when none are set).

        The window includes its start minute and excludes its end minute, in local time
        in the config's ``tz``; a window whose end is before its start crosses midnight.
        """
        window = self.config.active_hours
        if window is None:
            return True
        local = datetime.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(self.config.tz))
        minute = local.hour * 60 + local.minute
        start: int = clock_minutes(window[0])
        end: int = clock_minutes(window[1], end=True)
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end % _DAY_MINUTES

    def on_tick(
        self, state: HeartbeatState, now: float, session_busy: bool, rng: random.Random
    ) -> tuple[HeartbeatState, HeartbeatAction]:
        """Decide what a timer tick at ``now`` does.

        Args:
            state: the lane's state.
            now: the current time (epoch seconds).
            session_busy: whether the heartbeat's session runs a turn or has any waiting.
            rng: the source of the next interval's jitter.

        Returns:
            The new state and the action. Unless ``NotDue``, the next heartbeat is due one
            (jittered) interval after ``now``: a late tick does not cause a burst.
        """
        if now < state.next_due_time:
            return state, NotDue(state.next_due_time)
        moved = attrs.evolve(state, next_due_time=self.next_due(now, rng))
        # Inactive is checked first: outside the window the session's state is irrelevant.
        if not self.in_active_hours(now):
            return attrs.evolve(moved, skipped_inactive=state.skipped_inactive + 1), SkipInactive()
        if session_busy:
            return attrs.evolve(moved, skipped_busy=state.skipped_busy + 1), SkipBusy()
        return attrs.evolve(moved, submitted=state.submitted + 1), Submit(self.config.prompt)


def is_ack(reply: str, ack_token: str) -> bool:
    """Whether a heartbeat reply means "nothing to do": exactly ``ack_token`` once outer
    whitespace is trimmed. Case matters, and a token inside a longer reply is not an ack,
    because such a reply says something the user may need to see."""
    return reply.strip() == ack_token


# --- cron -------------------------------------------------------------------------------


@attrs.frozen
class Fire:
    """Submit the job's turn for the run due at ``scheduled_time``."""

    scheduled_time: float
    prompt: str


@attrs.frozen
class SkipOverlap:
    """The previous run was still active; the run due at ``scheduled_time`` is skipped
    (counted in ``skipped_overlap``)."""

    scheduled_time: float


CronAction = Fire | SkipOverlap | NotDue
"""Every answer ``CronSchedule.on_tick`` can give."""


@attrs.frozen
class CronState:
    """Where a cron lane stands."""

    next_fire_time: float
    """When the next run is due (epoch seconds)."""
    last_fire_time: float | None = None
    """The due time of the last run fired; persist it to ``resume`` after a restart."""
    fired: int = 0
    """Runs fired."""
    skipped_overlap: int = 0
    """Due times skipped because the previous run was still active."""
    missed: int = 0
    """Due times that passed without a tick: downtime (see ``resume``) or a late timer."""


@attrs.frozen
class CronSchedule:
    """The timing of one cron job."""

    config: CronJobConfig

    def next_fire(self, after: float) -> float:
        """The first due time strictly after ``after``.

        For a cron expression, the next matching minute in the job's tz. For ``every``,
        ``after + every``: the series is anchored where it starts (or resumes), so pass the
        previous due time, not the current time, to keep it from drifting.
        """
        every: float | None = self.config.every
        if every is not None:
            return after + every
        assert self.config.schedule is not None  # CronJobConfig holds exactly one
        start = datetime.datetime.fromtimestamp(after, zoneinfo.ZoneInfo(self.config.tz))
        return float(croniter(self.config.schedule, start).get_next(float))

    def missed_ticks(self, last_fire: float, now: float, *, limit: int = 10_000) -> int:
        """How many due times fall after ``last_fire`` and at or before ``now``.

        Used for reporting, never to run them. Counting a cron expression walks its due
        times, so the count stops at ``limit`` (a minutely job down for a week would
        otherwise take seconds to count); a result equal to ``limit`` means "at least".
        """
        if now <= last_fire:
            return 0
        every: float | None = self.config.every
        if every is not None:
            return min(math.floor((now - last_fire) / every), limit)
        count, due = 0, last_fire
        while count < limit:
            due = self.next_fire(due)
            if due > now:
                break
            count += 1
        return count

    def start(self, now: float) -> CronState:
        """The state of a job started at ``now``, with no record of earlier runs."""
        return CronState(next_fire_time=self.next_fire(now))

    def resume(self, last_fire_time: float, now: float) -> CronState:
        """The state of a job restarted at ``now`` whose last run was due at
        ``last_fire_time``. Due times in between count as ``missed`` and are not run; an
        ``every`` job keeps its phase."""
        return CronState(
            next_fire_time=self._first_after(last_fire_time, now),
            last_fire_time=last_fire_time,
            missed=self.missed_ticks(last_fire_time, now),
        )

    def on_tick(
        self, state: CronState, now: float, previous_run_active: bool
    ) -> tuple[CronState, CronAction]:
        """Decide what a timer tick at ``now`` does.

        Args:
            state: the lane's state.
            now: the current time (epoch seconds).
            previous_run_active: whether the job's previous run has not ended yet.

        Returns:
            The new state and the action. Unless ``NotDue``, the next due time is the first
            one after ``now``; due times the tick arrived too late for count as missed.
        """
        due = state.next_fire_time
        if now < due:
            return state, NotDue(due)
        moved = attrs.evolve(
            state,
            next_fire_time=self._first_after(due, now),
            missed=state.missed + self.missed_ticks(due, now),
        )
        if previous_run_active:
            return attrs.evolve(moved, skipped_overlap=state.skipped_overlap + 1), SkipOverlap(due)
        fired = attrs.evolve(moved, fired=state.fired + 1, last_fire_time=due)
        return fired, Fire(due, self.config.prompt)

    def _first_after(self, anchor: float, now: float) -> float:
        """The first due time after ``now`` in the series through ``anchor``."""
        every: float | None = self.config.every
        if every is None:
            return self.next_fire(max(anchor, now))
        steps = math.floor((now - anchor) / every) + 1 if now > anchor else 1
        due = anchor + steps * every
        while due <= now:  # float rounding can land one step short
            due += every
        return due
