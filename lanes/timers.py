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

import random
from pathlib import Path

import attrs

from sessionward import clock
from sessionward.actors.messages import ErrorReply
from sessionward.lanes.config import CronJobConfig
from sessionward.lanes.cron_state import load_cron_state, save_cron_state
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
from sessionward.lanes.timer_base import TimerLane
from sessionward.lanes.timer_messages import (
    ConfigureCronLane,
    ConfigureHeartbeatLane,
    CronJobStats,
    CronLaneStats,
    HeartbeatLaneStats,
)
from sessionward.logs import ActorLogger
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus

log = ActorLogger("sessionward.lanes")  # resolved per call: see sessionward.logs


class HeartbeatLane(TimerLane):
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


class CronLane(TimerLane):
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

    # -- the state file (``cron_state``) ------------------------------------------------------

    def _load(self) -> dict[str, float]:
        return load_cron_state(self._state_file) if self._state_file is not None else {}

    def _save(self) -> None:
        if self._state_file is not None:
            save_cron_state(self._state_file, self._agent_id,
                            {name: job.state.last_fire_time for name, job in self._jobs.items()})
