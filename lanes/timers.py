"""Timer lanes: the heartbeat and cron actors that submit turns on a schedule.

Each lane actor is thin. A Thespian timer (``wakeupAfter``) or a ``TickNow`` message gives
it a time; it asks the pure schedule (``sessionward.lanes.schedule``) what that time means,
and if the answer is to run, it sends ``SubmitTurn`` to the Directory with
``reply_to=self.myAddress``, so acceptance and the outcome come back here to be counted.
The session key comes from ``sessionward.lanes.routing.route``.

``HeartbeatLane`` (one per agent)
    Submits the heartbeat prompt when due. While its previous heartbeat has no final
    outcome, a due heartbeat is skipped here; otherwise the owner decides whether the
    session is busy (it refuses a heartbeat while any turn runs or waits, reason
    ``heartbeat_skipped``, counted in ``OwnerState.heartbeats_skipped``). Both count as
    ``skipped_busy``: a heartbeat is never queued. A reply equal to the ack token is in the
    transcript (the owner wrote it) but is not delivered: it counts as an ``ack``.

``CronLane`` (one per agent, holding all its jobs)
    One actor per agent rather than per job: on the TCP base every actor is an OS process,
    and jobs share everything but their schedule state, which is a small record per job.
    A due tick whose previous run (its submitted turn) has no final outcome yet is skipped
    and counted (``skipped_overlap``). Each job's last due time is saved to a small JSON
    file, so a restarted lane reports (logs and counts as ``missed``) the runs that fell
    due while it was down. Those runs are not run.

Timer turns are always submitted as ``followup``: a timer's prompt must never be coalesced
with a user's text, steer a user's turn or interrupt one.

Tests drive ticks with ``TickNow(now=...)`` instead of waiting; its answer comes once each
turn it submitted has been accepted or refused, and ``QueryLaneStats(wait_idle=True)``
answers once no turn is outstanding, so a test awaits replies and never sleeps.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

import attrs
from thespian.actors import ActorExitRequest, PoisonMessage, WakeupMessage

from sessionward import clock
from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import ErrorReply, OutcomeMessage, SubmitTurn, TurnAccepted
from sessionward.files import write_atomically
from sessionward.lanes.config import AgentConfig, CronJobConfig
from sessionward.lanes.routing import route
from sessionward.lanes.schedule import (
    CronSchedule,
    CronState,
    Fire,
    HeartbeatSchedule,
    HeartbeatState,
    SkipBusy,
    SkipInactive,
    SkipOverlap,
    Submit,
    is_ack,
)
from sessionward.logs import ActorLogger
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus

log = ActorLogger("sessionward.lanes")  # resolved per call: see sessionward.logs

ActorAddress = Any  # thespian.actors.ActorAddress

MAX_WAITERS = 100
"""Most deferred ``TickNow``/``QueryLaneStats`` answers a lane holds; older ones are
dropped (their askers have long timed out)."""

RETRY_AFTER = 60.0
"""Seconds before a timer whose tick raised is tried again."""

# -- messages ---------------------------------------------------------------------------


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


def cron_state_file(store_root: str | os.PathLike[str], agent_id: str) -> Path:
    """Where ``Runtime.start_lanes`` keeps an agent's cron state: ``<store>/lanes/<agent>.cron.json``."""
    return Path(store_root) / "lanes" / f"{agent_id}.cron.json"


# -- the shared part of both lanes ----------------------------------------------------------


class _TimerLane(GuardedActor):
    """Submitting, outcome bookkeeping, timers and deferred answers. Subclasses decide."""

    guard_log = log

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._directory = None
        self._agent_id = ""
        self._ticks = 0
        self._submits: dict[str, str] = {}
        """Submit request id -> what it is for (a job name, or ``heartbeat``) until its
        final outcome. Invariant: at most one per job or heartbeat (overlaps are skipped)."""
        self._timer_due: dict[str, float] = {}
        """Timer name -> the due time of the latest armed wakeup; an older wakeup is stale."""
        self._tick_waiters: list[tuple[set[str], str, Any]] = []
        self._stat_waiters: list[tuple[QueryLaneStats, Any]] = []

    def _log_session(self) -> str | None:
        # A lane submits into many sessions of one agent; its agent is what names it.
        return f"agent:{self._agent_id}" if self._agent_id else None

    def receiveMsg_ActorExitRequest(self, msg: ActorExitRequest, sender) -> None:
        if self._submits:
            # Their owners still give those turns outcomes; this lane just stops counting.
            log.info("%s of agent %s stops with %d turn(s) outstanding", type(self).__name__,
                     self._agent_id, len(self._submits))

    def receiveMsg_PoisonMessage(self, msg: PoisonMessage, sender) -> None:
        lost = msg.poisonMessage
        if isinstance(lost, SubmitTurn):
            # An undeliverable submit ends like a refused one, or its job would stay
            # "running" and every later tick would be skipped as an overlap.
            self.receiveMsg_ErrorReply(ErrorReply(lost.request_id, "unavailable",
                                                  "the directory could not be reached"), sender)
        else:
            log.warning("%s of agent %s could not deliver %s", type(self).__name__, self._agent_id,
                        type(lost).__name__)

    # -- subclass interface ---------------------------------------------------------------------

    def _tick(self, now: float, only: str | None) -> list[str]:
        """Run the schedule at ``now``; return the request ids of the turns submitted."""
        raise NotImplementedError

    def _dues(self) -> dict[str, float]:
        """Timer name -> when it is next due."""
        raise NotImplementedError

    def _finished(self, what: str, outcome: TurnOutcome) -> None:
        """Count a submitted turn's final outcome."""
        raise NotImplementedError

    def _stats(self, request_id: str):
        raise NotImplementedError

    # -- ticks --------------------------------------------------------------------------------------

    def receiveMsg_WakeupMessage(self, msg: WakeupMessage, sender) -> None:
        name, due = msg.payload
        if self._timer_due.get(name) != due:
            return  # superseded by a later arming (a TickNow moved the schedule)
        try:
            self._tick(clock.now(), name)
        except Exception:
            # Keep the timer alive, retried later rather than at once: a schedule that
            # fails on this due time would otherwise spin, or stop the lane for good.
            log.exception("%s of agent %s: tick of %s failed; retrying in %ss", type(self).__name__,
                          self._agent_id, name, RETRY_AFTER)
            self.wakeupAfter(RETRY_AFTER, payload=(name, due))
            return
        del self._timer_due[name]
        self._after_tick()

    def receiveMsg_TickNow(self, msg: TickNow, sender) -> None:
        if self._directory is None:
            self.send(sender, ErrorReply(msg.request_id, "unavailable", "the lane is not configured"))
            return
        try:
            submitted = self._tick(msg.now, msg.job)
        except LookupError as exc:
            self.send(sender, ErrorReply(msg.request_id, "not_found", str(exc)))
            return
        self._after_tick()
        if submitted:
            self._tick_waiters.append((set(submitted), msg.request_id, sender))
            del self._tick_waiters[:-MAX_WAITERS]
        else:
            self.send(sender, self._stats(msg.request_id))

    def _after_tick(self) -> None:
        self._arm()
        self._answer_stat_waiters()

    def _arm(self) -> None:
        """Set a wakeup for every timer whose due time changed (late or early ticks are
        harmless: the schedule answers ``NotDue`` and nothing fires twice)."""
        for name, due in self._dues().items():
            if self._timer_due.get(name) != due:
                self._timer_due[name] = due
                self.wakeupAfter(max(0.0, due - clock.now()) + 0.001, payload=(name, due))

    def _submit(self, what: str, session_key: str, lane: str, text: str,
                idempotency_key: str | None = None) -> str:
        request_id = uuid.uuid4().hex
        self._submits[request_id] = what
        self.send(self._directory, SubmitTurn(request_id, session_key, lane, text, mode="followup",
                                              idempotency_key=idempotency_key, reply_to=self.myAddress))
        return request_id

    # -- answers about submitted turns ----------------------------------------------------------

    def receiveMsg_TurnAccepted(self, msg: TurnAccepted, sender) -> None:
        self._answered(msg.request_id)

    def receiveMsg_OutcomeMessage(self, msg: OutcomeMessage, sender) -> None:
        outcome = msg.outcome
        # Counted before anyone is answered: a refused submit's first answer is its outcome.
        what = self._submits.pop(outcome.request_id, None) if outcome.final else None
        if what is not None:
            self._finished(what, outcome)
        self._answered(outcome.request_id)
        self._answer_stat_waiters()

    def receiveMsg_ErrorReply(self, msg: ErrorReply, sender) -> None:
        # The Directory could not route the submit (a bad key in the config, say): the
        # turn ends here as failed, so the job is not stuck "running" for ever.
        what = self._submits.pop(msg.request_id, None)
        if what is None:
            return
        log.error("lane %s of agent %s: submit refused: %s: %s", what, self._agent_id, msg.kind, msg.message)
        reason = {"unavailable": OutcomeReason.UNAVAILABLE,
                  "internal_error": OutcomeReason.INTERNAL_ERROR}.get(msg.kind, OutcomeReason.BAD_INPUT)
        self._finished(what, TurnOutcome("", "", TurnStatus.FAILED, reason=reason, detail=msg.message,
                                         request_id=msg.request_id))
        self._answered(msg.request_id)
        self._answer_stat_waiters()

    def _answered(self, request_id: str) -> None:
        """The submit got its first answer: a ``TickNow`` waiting for it may be answered."""
        still = []
        for waiting, tick_id, reply_to in self._tick_waiters:
            waiting.discard(request_id)
            if waiting:
                still.append((waiting, tick_id, reply_to))
            else:
                self.send(reply_to, self._stats(tick_id))
        self._tick_waiters = still

    # -- stats ----------------------------------------------------------------------------------

    def receiveMsg_QueryLaneStats(self, msg: QueryLaneStats, sender) -> None:
        if self._ready(msg):
            self.send(sender, self._stats(msg.request_id))
        else:
            self._stat_waiters.append((msg, sender))
            del self._stat_waiters[:-MAX_WAITERS]

    def _ready(self, query: QueryLaneStats) -> bool:
        return self._ticks >= query.min_ticks and not (query.wait_idle and self._submits)

    def _answer_stat_waiters(self) -> None:
        still = []
        for query, reply_to in self._stat_waiters:
            if self._ready(query):
                self.send(reply_to, self._stats(query.request_id))
            else:
                still.append((query, reply_to))
        self._stat_waiters = still


# -- heartbeat -------------------------------------------------------------------------------


class HeartbeatLane(_TimerLane):
    """One agent's heartbeat. Configure with ``ConfigureHeartbeatLane``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._schedule: HeartbeatSchedule | None = None
        self._state: HeartbeatState | None = None
        self._rng = random.Random()
        self._session_key = ""
        self._ack_token = ""
        self._counts = {"acks": 0, "delivered": 0, "refused_busy": 0, "failed": 0}
        self._last_alert: str | None = None

    def receiveMsg_ConfigureHeartbeatLane(self, msg: ConfigureHeartbeatLane, sender) -> None:
        heartbeat = msg.agent.heartbeat
        if heartbeat is None:
            self.send(sender, ErrorReply(msg.request_id, "bad_input",
                                         f"agent {msg.agent.agent_id!r} has no heartbeat"))
            return
        self._agent_id = msg.agent.agent_id
        self._session_key = route("heartbeat", msg.agent)
        self._schedule = HeartbeatSchedule(heartbeat)
        self._ack_token = heartbeat.ack_token
        self._rng = random.Random(msg.seed)
        now = clock.now() if msg.start_time is None else msg.start_time
        self._state = self._schedule.start(now, self._rng)
        self._directory = msg.directory
        self._arm()
        self.send(sender, self._stats(msg.request_id))

    def _tick(self, now: float, only: str | None) -> list[str]:
        # Only our own unfinished heartbeat is certain knowledge of "busy"; any other
        # work on the session is the owner's to judge when the submit arrives (asking it
        # first would race with the submit).
        busy = bool(self._submits)
        self._state, action = self._schedule.on_tick(self._state, now, busy, self._rng)
        if isinstance(action, Submit):
            self._ticks += 1
            return [self._submit("heartbeat", self._session_key, "heartbeat", action.prompt)]
        if isinstance(action, SkipBusy | SkipInactive):
            self._ticks += 1
            log.info("heartbeat of agent %s skipped: %s", self._agent_id,
                     "the previous one still runs" if isinstance(action, SkipBusy) else "outside active hours")
        return []

    def _dues(self) -> dict[str, float]:
        return {"heartbeat": self._state.next_due_time}

    def _finished(self, what: str, outcome: TurnOutcome) -> None:
        if outcome.status is TurnStatus.COMPLETED and is_ack(outcome.reply or "", self._ack_token):
            self._counts["acks"] += 1  # in the transcript; nobody needs to see it
        elif outcome.status is TurnStatus.COMPLETED:
            self._counts["delivered"] += 1
            self._last_alert = outcome.reply
            log.warning("heartbeat of agent %s: %s", self._agent_id, outcome.reply)
        elif outcome.reason is OutcomeReason.HEARTBEAT_SKIPPED:
            self._counts["refused_busy"] += 1
            log.info("heartbeat of agent %s skipped: session %s is busy", self._agent_id, self._session_key)
        else:
            self._counts["failed"] += 1
            log.warning("heartbeat of agent %s ended %s (%s): %s", self._agent_id, outcome.status.value,
                        outcome.reason, outcome.detail)

    def _stats(self, request_id: str) -> HeartbeatLaneStats:
        state, counts = self._state, self._counts
        return HeartbeatLaneStats(
            request_id, self._agent_id, self._session_key, ticks=self._ticks,
            submitted=state.submitted, acks=counts["acks"], delivered=counts["delivered"],
            skipped_busy=state.skipped_busy + counts["refused_busy"],
            skipped_inactive=state.skipped_inactive, failed=counts["failed"],
            running=bool(self._submits), next_due_time=state.next_due_time, last_alert=self._last_alert,
        )


# -- cron ------------------------------------------------------------------------------------


@attrs.define
class _Job:
    """One cron job as the lane tracks it. Mutable, private."""

    config: CronJobConfig
    schedule: CronSchedule
    session_key: str
    state: CronState
    completed: int = 0
    failed: int = 0


class CronLane(_TimerLane):
    """Every cron job of one agent. Configure with ``ConfigureCronLane``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._jobs: dict[str, _Job] = {}
        self._state_file: Path | None = None

    def receiveMsg_ConfigureCronLane(self, msg: ConfigureCronLane, sender) -> None:
        agent = msg.agent
        self._agent_id = agent.agent_id
        self._state_file = Path(msg.state_file) if msg.state_file else None
        now = clock.now() if msg.start_time is None else msg.start_time
        last_fired = self._load()
        for config in agent.cron:
            schedule = CronSchedule(config)
            last = last_fired.get(config.name)
            state = schedule.start(now) if last is None else schedule.resume(last, now)
            if state.missed:
                # Timers survive no restart by design; what they missed is said, not run.
                log.warning("cron job %s of agent %s: %d run(s) fell due while the lane was down"
                            " (last run due at %s); they are not run", config.name, agent.agent_id,
                            state.missed, last)
            self._jobs[config.name] = _Job(config, schedule, route(config.lane, agent), state)
        self._directory = msg.directory
        self._arm()
        self.send(sender, self._stats(msg.request_id))

    def _tick(self, now: float, only: str | None) -> list[str]:
        if only is not None and only not in self._jobs:
            raise LookupError(f"agent {self._agent_id!r} has no cron job {only!r}")
        submitted = []
        running = set(self._submits.values())
        for name, job in self._jobs.items():
            if only is not None and name != only:
                continue
            before = job.state
            job.state, action = job.schedule.on_tick(before, now, name in running)
            if job.state.missed > before.missed:
                log.warning("cron job %s of agent %s: %d run(s) passed before this late tick; they are not run",
                            name, self._agent_id, job.state.missed - before.missed)
            if isinstance(action, Fire):
                self._ticks += 1
                # One due time runs at most once, even if this lane is restarted and ticks
                # it again: the owner answers a repeated idempotency key with the first turn.
                key = f"cron:{self._agent_id}:{name}:{action.scheduled_time!r}"
                submitted.append(self._submit(name, job.session_key, job.config.lane, action.prompt, key))
            elif isinstance(action, SkipOverlap):
                self._ticks += 1
                log.info("cron job %s of agent %s skipped: its previous run is still active", name, self._agent_id)
        if submitted:
            self._save()
        return submitted

    def _dues(self) -> dict[str, float]:
        return {name: job.state.next_fire_time for name, job in self._jobs.items()}

    def _finished(self, what: str, outcome: TurnOutcome) -> None:
        job = self._jobs.get(what)
        if job is None:
            return
        if outcome.status is TurnStatus.COMPLETED:
            job.completed += 1
        else:
            job.failed += 1
            log.warning("cron job %s of agent %s ended %s (%s): %s", what, self._agent_id,
                        outcome.status.value, outcome.reason, outcome.detail)

    def _stats(self, request_id: str) -> CronLaneStats:
        running = set(self._submits.values())
        return CronLaneStats(request_id, self._agent_id, self._ticks, tuple(
            CronJobStats(name, job.config.lane, job.session_key, fired=job.state.fired,
                         completed=job.completed, failed=job.failed,
                         skipped_overlap=job.state.skipped_overlap, missed=job.state.missed,
                         running=name in running, next_fire_time=job.state.next_fire_time,
                         last_fire_time=job.state.last_fire_time)
            for name, job in self._jobs.items()))

    # -- the state file ----------------------------------------------------------------------

    def _load(self) -> dict[str, float]:
        if self._state_file is None or not self._state_file.exists():
            return {}
        try:
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
            return {str(k): float(v) for k, v in data["last_fire_time"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A lost memory costs only the missed-run report, never a run: start afresh.
            log.error("cron state %s is unreadable (%s); starting without it", self._state_file, exc)
            return {}

    def _save(self) -> None:
        if self._state_file is None:
            return
        data = {"version": 1, "agent_id": self._agent_id,
                "last_fire_time": {name: job.state.last_fire_time for name, job in self._jobs.items()
                                   if job.state.last_fire_time is not None}}
        try:
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            # A crash mid-write leaves the old state, not half a file.
            write_atomically(self._state_file, json.dumps(data).encode("utf-8"))
        except OSError:
            log.exception("could not save cron state %s", self._state_file)
