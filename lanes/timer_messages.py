"""The messages of the timer lanes (``sessionward.lanes.timers``): configure, tick, stats.

Records only (no actor engine): ``Runtime`` and tests build and read them without importing
the lane actors, and ``sessionward`` exports the stats records ``Runtime.lane_stats`` returns.
"""

from __future__ import annotations

from typing import Any

import attrs

from sessionward.lanes.config import AgentConfig

ActorAddress = Any  # thespian.actors.ActorAddress



@attrs.frozen
class LaneDue:
    """A timer lane's wakeup: ``timer`` is due at ``due`` (a later arming supersedes it)."""

    timer: str
    due: float


@attrs.frozen
class ConfigureHeartbeatLane:
    """Start a ``HeartbeatLane``. Answered by ``HeartbeatLaneStats`` or ``ErrorReply``."""

    request_id: str
    directory: ActorAddress
    """Where heartbeat turns are submitted."""
    agent: AgentConfig
    """The agent; its ``heartbeat`` must be set."""
    start_time: float | None = None
    """The lane's start (epoch seconds); the first heartbeat is due one interval later.
    None: now."""
    seed: int | None = None
    """Seed of the jitter's random numbers (tests); None: unpredictable."""


@attrs.frozen
class ConfigureCronLane:
    """Start a ``CronLane`` for every cron job of an agent. Answered by ``CronLaneStats``
    or ``ErrorReply``."""

    request_id: str
    directory: ActorAddress
    agent: AgentConfig
    """The agent; its ``cron`` jobs are the lane's jobs."""
    start_time: float | None = None
    """The lane's start (epoch seconds). None: now."""
    state_file: str | None = None
    """A JSON file with each job's last due time: read at start (runs due since then are
    reported as missed) and written after every run. None: no memory across restarts."""


@attrs.frozen
class TickNow:
    """Test hook: run one tick at ``now`` as a timer would. Answered by the lane's stats
    once every turn the tick submitted has been accepted or refused."""

    request_id: str
    now: float
    """The time the schedule is asked about (epoch seconds)."""
    job: str | None = None
    """A cron lane ticks only this job; None: every job. Ignored by a heartbeat lane."""


@attrs.frozen
class QueryLaneStats:
    """Ask a lane for its counters. Answered by ``HeartbeatLaneStats`` or ``CronLaneStats``."""

    request_id: str
    wait_idle: bool = False
    """Answer only once no submitted turn is waiting for its final outcome."""
    min_ticks: int = 0
    """Answer only once the lane has acted on at least this many due ticks."""


@attrs.frozen
class HeartbeatLaneStats:
    """A snapshot of a heartbeat lane's counters."""

    request_id: str
    agent_id: str
    session_key: str
    """Where heartbeats go (``agent:<agent>:main:heartbeat``, or ``...:main``)."""
    ticks: int
    """Due ticks acted on (submitted or skipped)."""
    submitted: int
    """Heartbeat turns sent to the owner (including ones it then refused as busy)."""
    acks: int
    """Completed with exactly the ack token: recorded in the transcript, not delivered."""
    delivered: int
    """Completed with anything else: a reply someone should see (``last_alert``)."""
    skipped_busy: int
    """Not run because the session was busy: the previous heartbeat was still running
    (decided here) or the owner refused it (``heartbeat_skipped``)."""
    skipped_inactive: int
    """Due outside the active hours."""
    failed: int
    """Ended failed or cancelled for any other reason (provider error, abort, ...)."""
    running: bool
    """A heartbeat turn has no final outcome yet."""
    next_due_time: float
    """When the next heartbeat is due (epoch seconds)."""
    last_alert: str | None = None
    """The last delivered (non-ack) reply."""


@attrs.frozen
class CronJobStats:
    """One cron job's counters."""

    name: str
    lane: str
    """``cron:<name>``."""
    session_key: str
    fired: int
    """Runs submitted."""
    completed: int
    failed: int
    """Runs that ended failed or cancelled (refused ``busy`` included)."""
    skipped_overlap: int
    """Due ticks skipped because the previous run had no final outcome yet."""
    missed: int
    """Due times that passed without a tick: downtime before the start, or a late timer."""
    running: bool
    """A run has no final outcome yet."""
    next_fire_time: float
    last_fire_time: float | None
    """The due time of the last run fired (epoch seconds)."""


@attrs.frozen
class CronLaneStats:
    """A snapshot of a cron lane: one record per job, in configuration order."""

    request_id: str
    agent_id: str
    ticks: int
    """Due ticks acted on, over all jobs (fired or skipped)."""
    jobs: tuple[CronJobStats, ...]
