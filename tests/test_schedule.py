"""Heartbeat and cron timing, and what a timer tick decides. Literal times, no waiting."""

from __future__ import annotations

import datetime
import random
from zoneinfo import ZoneInfo

import pytest

from sessionward.lanes.config import CronJobConfig, HeartbeatConfig
from sessionward.lanes.schedule import (
    CronSchedule,
    CronState,
    Fire,
    HeartbeatSchedule,
    HeartbeatState,
    NotDue,
    SkipBusy,
    SkipInactive,
    SkipOverlap,
    Submit,
    is_ack,
)

UTC = datetime.UTC
MINUTE = 60.0
HOUR = 3600.0


def at(text: str, tz: str = "UTC") -> float:
    """Epoch seconds of a local ISO time in ``tz``."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def rng() -> random.Random:
    return random.Random(1234)


# --- heartbeat timing -------------------------------------------------------------------


def test_without_jitter_the_next_heartbeat_is_exactly_one_interval_later() -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig(every=1800, jitter=0))
    assert schedule.next_due(1000.0, rng()) == 2800.0


def test_jitter_keeps_each_interval_within_its_fraction() -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig(every=1000, jitter=0.1))
    source = rng()
    intervals = [schedule.next_due(0.0, source) for _ in range(500)]
    assert all(900.0 <= i <= 1100.0 for i in intervals)
    assert len(set(intervals)) > 1


def test_jitter_is_reproducible_from_the_callers_random_source() -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig(every=1000, jitter=0.1))
    assert schedule.next_due(0.0, rng()) == schedule.next_due(0.0, rng())


def test_a_started_heartbeat_is_first_due_one_interval_later() -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig(every=600, jitter=0))
    assert schedule.start(50.0, rng()) == HeartbeatState(next_due_time=650.0)


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        ("2024-01-15T07:59:59", False),
        ("2024-01-15T08:00:00", True),
        ("2024-01-15T21:59:59", True),
        ("2024-01-15T22:00:00", False),
        ("2024-07-15T08:00:00", True),  # summer time: the window follows local time
        ("2024-07-15T07:59:00", False),
    ],
)
def test_active_hours_include_the_start_and_exclude_the_end_in_local_time(
    local: str, inside: bool
) -> None:
    schedule = HeartbeatSchedule(
        HeartbeatConfig(active_hours=("08:00", "22:00"), tz="Europe/Berlin")
    )
    assert schedule.in_active_hours(at(local, "Europe/Berlin")) is inside


def test_active_hours_are_read_in_the_configured_zone_not_utc() -> None:
    schedule = HeartbeatSchedule(
        HeartbeatConfig(active_hours=("08:00", "22:00"), tz="Europe/Berlin")
    )
    # 07:30 UTC in January is 08:30 in Berlin.
    assert schedule.in_active_hours(at("2024-01-15T07:30:00"))


@pytest.mark.parametrize(
    ("clock", "inside"),
    [
        ("21:59", False),
        ("22:00", True),
        ("23:59", True),
        ("00:00", True),
        ("05:59", True),
        ("06:00", False),
        ("12:00", False),
    ],
)
def test_an_active_window_may_cross_midnight(clock: str, inside: bool) -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig(active_hours=("22:00", "06:00")))
    assert schedule.in_active_hours(at(f"2024-01-15T{clock}:00")) is inside


def test_an_active_window_may_end_at_midnight() -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig(active_hours=("08:00", "24:00")))
    assert schedule.in_active_hours(at("2024-01-15T23:59:59"))
    assert not schedule.in_active_hours(at("2024-01-16T00:00:00"))


def test_without_active_hours_every_time_is_active() -> None:
    schedule = HeartbeatSchedule(HeartbeatConfig())
    assert schedule.in_active_hours(at("2024-01-15T03:00:00"))


@pytest.mark.parametrize(
    ("reply", "ack"),
    [
        ("HEARTBEAT_OK", True),
        ("  HEARTBEAT_OK\n", True),
        ("heartbeat_ok", False),
        ("HEARTBEAT_OK, and the disk is full", False),
        ("", False),
    ],
)
def test_only_the_exact_trimmed_token_is_an_ack(reply: str, ack: bool) -> None:
    assert is_ack(reply, "HEARTBEAT_OK") is ack


# --- heartbeat ticks --------------------------------------------------------------------

HEARTBEAT = HeartbeatSchedule(
    HeartbeatConfig(every=1800, jitter=0, active_hours=("08:00", "22:00"), prompt="beat")
)
NOON = at("2024-01-15T12:00:00")


def test_an_early_tick_is_not_due_and_changes_nothing() -> None:
    state = HeartbeatState(next_due_time=NOON)
    assert HEARTBEAT.on_tick(state, NOON - 0.001, False, rng()) == (state, NotDue(NOON))


def test_a_due_tick_on_an_idle_session_submits_the_prompt() -> None:
    state, action = HEARTBEAT.on_tick(HeartbeatState(next_due_time=NOON), NOON, False, rng())
    assert action == Submit("beat")
    assert state == HeartbeatState(next_due_time=NOON + 1800, submitted=1)


def test_a_due_tick_on_a_busy_session_is_skipped_and_counted() -> None:
    state, action = HEARTBEAT.on_tick(HeartbeatState(next_due_time=NOON), NOON, True, rng())
    assert action == SkipBusy()
    assert state == HeartbeatState(next_due_time=NOON + 1800, skipped_busy=1)


def test_a_due_tick_outside_active_hours_is_skipped_even_when_busy() -> None:
    night = at("2024-01-15T23:00:00")
    state, action = HEARTBEAT.on_tick(HeartbeatState(next_due_time=night), night, True, rng())
    assert action == SkipInactive()
    assert state == HeartbeatState(next_due_time=night + 1800, skipped_inactive=1)


def test_a_late_tick_fires_once_and_schedules_from_now() -> None:
    late = NOON + 3 * HOUR
    state, action = HEARTBEAT.on_tick(HeartbeatState(next_due_time=NOON), late, False, rng())
    assert action == Submit("beat")
    assert state.next_due_time == late + 1800
    assert HEARTBEAT.on_tick(state, late + 1, False, rng())[1] == NotDue(late + 1800)


def test_counters_add_up_over_a_day_of_ticks() -> None:
    state = HEARTBEAT.start(at("2024-01-15T00:00:00"), rng())
    for n in range(48):
        busy = n % 3 == 0
        state, _ = HEARTBEAT.on_tick(state, state.next_due_time, busy, rng())
    assert state.submitted + state.skipped_busy + state.skipped_inactive == 48
    # 08:00 to 22:00 is 28 half-hour slots; a third of the day's ticks were busy.
    assert state.submitted + state.skipped_busy == 28
    assert state.skipped_inactive == 20


# --- cron timing ------------------------------------------------------------------------


def job(**fields: object) -> CronSchedule:
    fields.setdefault("prompt", "run")
    return CronSchedule(CronJobConfig(name="n", **fields))  # type: ignore[arg-type]


def test_a_cron_expression_fires_at_the_next_matching_minute() -> None:
    nightly = job(schedule="0 3 * * *")
    assert nightly.next_fire(at("2024-01-15T02:59:00")) == at("2024-01-15T03:00:00")
    assert nightly.next_fire(at("2024-01-15T03:00:30")) == at("2024-01-16T03:00:00")


def test_next_fire_is_strictly_after_a_due_time() -> None:
    nightly = job(schedule="0 3 * * *")
    assert nightly.next_fire(at("2024-01-15T03:00:00")) == at("2024-01-16T03:00:00")


def test_a_cron_expression_follows_daylight_saving_in_its_zone() -> None:
    morning = job(schedule="0 9 * * *", tz="Europe/Berlin")
    first = morning.next_fire(at("2024-03-29T12:00:00", "Europe/Berlin"))  # DST starts 03-31
    second = morning.next_fire(first)
    assert datetime.datetime.fromtimestamp(first, UTC).hour == 8  # 09:00 CET
    assert datetime.datetime.fromtimestamp(second, UTC).hour == 7  # 09:00 CEST
    assert second - first == 23 * HOUR


def test_a_fixed_interval_fires_every_interval_after_its_anchor() -> None:
    assert job(every=90).next_fire(1000.0) == 1090.0


def test_a_started_job_is_first_due_at_its_next_fire() -> None:
    assert job(every=90).start(1000.0) == CronState(next_fire_time=1090.0)


# --- cron ticks -------------------------------------------------------------------------

HOURLY = job(schedule="0 * * * *")
TEN = at("2024-01-15T10:00:00")


def test_an_early_cron_tick_is_not_due_and_changes_nothing() -> None:
    state = CronState(next_fire_time=TEN)
    assert HOURLY.on_tick(state, TEN - 1, False) == (state, NotDue(TEN))


def test_a_due_cron_tick_fires_and_schedules_the_next_run() -> None:
    state, action = HOURLY.on_tick(CronState(next_fire_time=TEN), TEN, False)
    assert action == Fire(scheduled_time=TEN, prompt="run")
    assert state == CronState(next_fire_time=TEN + HOUR, last_fire_time=TEN, fired=1)


def test_a_due_cron_tick_while_the_previous_run_is_active_is_skipped_and_counted() -> None:
    before = CronState(next_fire_time=TEN, last_fire_time=TEN - HOUR, fired=1)
    state, action = HOURLY.on_tick(before, TEN + 2, True)
    assert action == SkipOverlap(scheduled_time=TEN)
    assert state == CronState(
        next_fire_time=TEN + HOUR, last_fire_time=TEN - HOUR, fired=1, skipped_overlap=1
    )


def test_a_late_cron_tick_fires_once_and_counts_the_due_times_it_passed() -> None:
    state, action = HOURLY.on_tick(CronState(next_fire_time=TEN), TEN + 2.5 * HOUR, False)
    assert action == Fire(scheduled_time=TEN, prompt="run")
    assert state.missed == 2  # 11:00 and 12:00
    assert state.next_fire_time == TEN + 3 * HOUR
    assert state.fired == 1


def test_a_late_tick_keeps_a_fixed_interval_in_phase() -> None:
    every = job(every=100)
    state, _ = every.on_tick(CronState(next_fire_time=1000.0), 1250.0, False)
    assert state.next_fire_time == 1300.0
    assert state.missed == 2  # 1100 and 1200


def test_runs_never_pile_up_while_one_stays_active() -> None:
    state = CronState(next_fire_time=TEN)
    actions = []
    for hour in range(5):
        state, action = HOURLY.on_tick(state, TEN + hour * HOUR, hour > 0)
        actions.append(type(action))
    assert actions == [Fire, SkipOverlap, SkipOverlap, SkipOverlap, SkipOverlap]
    assert (state.fired, state.skipped_overlap, state.missed) == (1, 4, 0)


# --- downtime ---------------------------------------------------------------------------


def test_missed_ticks_counts_due_times_after_the_last_fire_up_to_now() -> None:
    assert HOURLY.missed_ticks(TEN, TEN + 5.5 * HOUR) == 5
    assert HOURLY.missed_ticks(TEN, TEN + 5 * HOUR) == 5  # a due time at now counts
    assert HOURLY.missed_ticks(TEN, TEN + HOUR - 1) == 0
    assert HOURLY.missed_ticks(TEN, TEN) == 0
    assert HOURLY.missed_ticks(TEN, TEN - HOUR) == 0  # a clock that went back


def test_missed_ticks_for_a_fixed_interval_is_arithmetic() -> None:
    assert job(every=60).missed_ticks(0.0, 600.0) == 10
    assert job(every=60).missed_ticks(0.0, 599.0) == 9


def test_missed_ticks_stops_counting_at_the_limit() -> None:
    minutely = job(schedule="* * * * *")
    assert minutely.missed_ticks(TEN, TEN + 7 * 24 * HOUR, limit=100) == 100
    assert job(every=1).missed_ticks(0.0, 1e9, limit=100) == 100


def test_resume_reports_missed_runs_without_running_them() -> None:
    state = HOURLY.resume(TEN, TEN + 3.5 * HOUR)
    assert state == CronState(next_fire_time=TEN + 4 * HOUR, last_fire_time=TEN, missed=3)
    assert HOURLY.on_tick(state, TEN + 3.5 * HOUR, False)[1] == NotDue(TEN + 4 * HOUR)


def test_resume_keeps_a_fixed_interval_in_phase() -> None:
    state = job(every=100).resume(1000.0, 1350.0)
    assert state.next_fire_time == 1400.0
    assert state.missed == 3


def test_resume_without_downtime_misses_nothing() -> None:
    state = HOURLY.resume(TEN, TEN + 10 * MINUTE)
    assert state == CronState(next_fire_time=TEN + HOUR, last_fire_time=TEN)
