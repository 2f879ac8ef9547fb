"""Stall classification: progress, not wall time, decides whether a turn is stalled."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionward.errors import BadInputError
from sessionward.recovery.stall import Health, Thresholds, classify

T0 = 1_700_000_000.0
DEFAULT = Thresholds()


def health(started: float | None, progress: float | None, now: float, t: Thresholds = DEFAULT):
    return classify(turn_started_time=started, last_progress_time=progress, now=now, thresholds=t)


def test_default_thresholds_match_the_documented_values():
    assert (DEFAULT.recovery_tick, DEFAULT.stall_after, DEFAULT.long_running_after) == (
        30.0,
        120.0,
        600.0,
    )
    assert DEFAULT.abort_after is None
    assert DEFAULT.wedged_after_misses == 2


def test_abort_after_defaults_to_five_minutes_for_short_stall_periods():
    assert Thresholds(stall_after=60.0).effective_abort_after == 300.0


def test_abort_after_defaults_to_three_stall_periods_for_long_ones():
    assert Thresholds(stall_after=200.0).effective_abort_after == 600.0


def test_an_explicit_abort_after_is_used_as_given():
    assert Thresholds(recovery_tick=5.0, stall_after=10.0, abort_after=20.0).effective_abort_after == 20.0


def test_abort_grace_defaults_to_one_recovery_tick():
    assert Thresholds(recovery_tick=7.0).effective_abort_grace == 7.0
    assert Thresholds(recovery_tick=7.0, abort_grace=0.0).effective_abort_grace == 0.0


def test_abort_after_shorter_than_stall_after_is_refused():
    with pytest.raises(BadInputError, match="abort_after"):
        Thresholds(stall_after=120.0, abort_after=60.0)


def test_wedged_after_defaults_to_a_minute_for_short_thresholds():
    assert Thresholds(recovery_tick=0.4, stall_after=1.0, abort_after=2.0).effective_wedged_after == 60.0


def test_wedged_after_defaults_past_abort_after_and_five_ticks_for_long_thresholds():
    assert Thresholds().effective_wedged_after == 300.0 + 30.0 + 60.0  # abort 360 + one tick
    assert Thresholds(recovery_tick=20.0, stall_after=40.0, abort_after=50.0).effective_wedged_after == 100.0


@pytest.mark.parametrize(("kwargs", "order"), [
    ({"recovery_tick": 2.0, "stall_after": 1.0, "abort_after": 3.0}, "2 < 1 < 3 < 60"),
    ({"recovery_tick": 0.2, "stall_after": 0.4, "abort_after": 1.0, "wedged_after": 0.9}, "0.2 < 0.4 < 1 < 0.9"),
])
def test_thresholds_out_of_order_are_refused_in_one_line_naming_the_values(kwargs, order):
    with pytest.raises(BadInputError) as err:
        Thresholds(**kwargs)
    assert "\n" not in str(err.value) and order in str(err.value)


def test_a_wedged_after_under_five_ticks_is_refused():
    with pytest.raises(BadInputError, match="at least 5 recovery ticks"):
        Thresholds(recovery_tick=1.0, stall_after=2.0, abort_after=3.0, wedged_after=4.0)


@pytest.mark.parametrize(
    "field", ["recovery_tick", "stall_after", "abort_after", "long_running_after"]
)
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_durations_must_be_finite_and_positive(field, value):
    with pytest.raises(BadInputError, match=field):
        Thresholds(**{field: value})


def test_a_bad_threshold_is_a_value_error():
    with pytest.raises(ValueError):
        Thresholds(stall_after=-5)


@pytest.mark.parametrize("misses", [0, -1, 1.5, True])
def test_wedged_after_misses_must_be_a_positive_integer(misses):
    with pytest.raises(BadInputError, match="wedged_after_misses"):
        Thresholds(wedged_after_misses=misses)


def test_thresholds_are_frozen():
    with pytest.raises(AttributeError):
        DEFAULT.stall_after = 1.0  # type: ignore[misc]


def test_an_idle_owner_is_healthy():
    assert health(None, None, T0) is Health.HEALTHY


def test_an_idle_owner_is_healthy_whatever_its_last_progress():
    assert health(None, T0 - 10_000, T0) is Health.HEALTHY


def test_a_young_turn_that_streams_is_healthy():
    assert health(T0, T0 + 5, T0 + 10) is Health.HEALTHY


def test_a_twenty_minute_turn_that_keeps_streaming_is_long_running_not_stalled():
    assert health(T0, T0 + 1199, T0 + 1200) is Health.LONG_RUNNING


def test_a_turn_is_long_running_from_long_running_after_on():
    assert health(T0, T0 + 599, T0 + 599.9) is Health.HEALTHY
    assert health(T0, T0 + 599, T0 + 600) is Health.LONG_RUNNING


def test_a_turn_without_progress_counts_silence_from_its_start():
    assert health(T0, None, T0 + 119) is Health.HEALTHY
    assert health(T0, None, T0 + 120) is Health.STALLED


def test_silence_of_exactly_stall_after_is_stalled():
    assert health(T0, T0 + 10, T0 + 130) is Health.STALLED


def test_a_stalled_turn_becomes_stuck_at_abort_after():
    # The default abort_after for stall_after=120 is max(300, 360) = 360.
    assert health(T0, T0 + 10, T0 + 369) is Health.STALLED
    assert health(T0, T0 + 10, T0 + 370) is Health.STUCK


def test_a_stall_in_an_old_turn_is_reported_as_stalled_not_long_running():
    assert health(T0, T0 + 1000, T0 + 1200) is Health.STALLED


def test_progress_from_before_the_turn_started_does_not_count_against_it():
    assert health(T0, T0 - 500, T0 + 10) is Health.HEALTHY


def test_custom_thresholds_are_applied():
    t = Thresholds(recovery_tick=0.5, stall_after=1.0, abort_after=2.0, long_running_after=5.0)
    assert health(T0, T0, T0 + 0.5, t) is Health.HEALTHY
    assert health(T0, T0, T0 + 1.0, t) is Health.STALLED
    assert health(T0, T0, T0 + 2.0, t) is Health.STUCK
    assert health(T0, T0 + 5.5, T0 + 6.0, t) is Health.LONG_RUNNING


def test_a_clock_that_went_backwards_does_not_make_a_turn_stalled():
    assert health(T0, T0 + 100, T0 + 50) is Health.HEALTHY


_ORDER = list(Health)


@given(
    silence=st.floats(min_value=0, max_value=10_000),
    more=st.floats(min_value=0, max_value=10_000),
)
def test_health_never_improves_while_the_stream_stays_silent(silence, more):
    before = health(T0, T0, T0 + silence)
    after = health(T0, T0, T0 + silence + more)
    assert _ORDER.index(after) >= _ORDER.index(before)


@given(age=st.floats(min_value=0, max_value=100_000), gap=st.floats(min_value=0, max_value=119))
def test_a_turn_that_progressed_within_stall_after_is_never_stalled(age, gap):
    now = T0 + age
    progress = max(T0, now - gap)
    assert health(T0, progress, now) in (Health.HEALTHY, Health.LONG_RUNNING)
