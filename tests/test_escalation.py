"""The recovery ladder: warn, nudge, abort, replace, each bound to the turn it saw."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from sessionward.recovery.escalation import (
    Abort,
    EscalationState,
    NoAction,
    NoAnswer,
    Nudge,
    OwnerStatus,
    Replace,
    Resolution,
    Warn,
    decide,
    record_decision,
)
from sessionward.recovery.history import ActionKind, ActionOutcome, RecoveryHistory
from sessionward.recovery.stall import Thresholds

T0 = 1_700_000_000.0
# stall at 120 s of silence, stuck at 360 s, long running at 600 s, grace of one 30 s tick.
TH = Thresholds()


def status(turn="t1", started=T0, progress=None, depth=0):
    return OwnerStatus(turn, started if turn else None, progress, depth)


IDLE = OwnerStatus(None, None, None, 0)


def run(observations, state=None, thresholds=TH):
    """Feed ``(now, observation)`` pairs; return every (state, action) produced."""
    state = state or EscalationState()
    steps = []
    for now, observation in observations:
        state, action = decide(state, observation, now, thresholds)
        steps.append((state, action))
    return steps


def actions(steps):
    return [action for _, action in steps]


def test_an_idle_owner_needs_nothing():
    assert actions(run([(T0, IDLE), (T0 + 1000, IDLE)])) == [NoAction(), NoAction()]


def test_a_young_streaming_turn_needs_nothing():
    assert actions(run([(T0 + 30, status(progress=T0 + 25))])) == [NoAction()]


def test_a_long_running_turn_is_warned_once():
    steps = run(
        [
            (T0 + 600, status(progress=T0 + 599)),
            (T0 + 630, status(progress=T0 + 629)),
            (T0 + 1200, status(progress=T0 + 1199)),
        ]
    )
    assert actions(steps) == [Warn("t1"), NoAction(), NoAction()]


def test_a_twenty_minute_turn_that_keeps_streaming_is_never_nudged_or_aborted():
    observations = [(T0 + t, status(progress=T0 + t - 5)) for t in range(30, 1201, 30)]
    kinds = {type(a) for a in actions(run(observations))}
    assert kinds == {NoAction, Warn}


def test_a_new_turn_gets_its_own_long_running_warning():
    steps = run(
        [
            (T0 + 600, status("t1", progress=T0 + 599)),
            (T0 + 1300, status("t2", started=T0 + 700, progress=T0 + 1299)),
        ]
    )
    assert actions(steps) == [Warn("t1"), Warn("t2")]


def test_a_stalled_turn_is_nudged_once():
    steps = run(
        [
            (T0 + 120, status(progress=None)),
            (T0 + 150, status(progress=None)),
            (T0 + 180, status(progress=None)),
        ]
    )
    assert actions(steps) == [Nudge("t1"), NoAction(), NoAction()]


def test_progress_after_a_nudge_marks_the_nudge_effective():
    steps = run([(T0 + 130, status(progress=T0 + 10)), (T0 + 160, status(progress=T0 + 155))])
    assert actions(steps) == [Nudge("t1"), NoAction()]
    state, _ = steps[-1]
    assert state.resolution == Resolution(ActionKind.NUDGE, "t1", effective=True)
    assert state.pending is None


def test_first_progress_after_a_nudge_of_a_silent_turn_counts():
    steps = run([(T0 + 120, status(progress=None)), (T0 + 150, status(progress=T0 + 140))])
    assert steps[-1][0].resolution == Resolution(ActionKind.NUDGE, "t1", effective=True)


def test_a_turn_that_stalls_again_after_an_effective_nudge_is_nudged_again():
    steps = run(
        [
            (T0 + 130, status(progress=T0 + 10)),
            (T0 + 160, status(progress=T0 + 155)),
            (T0 + 280, status(progress=T0 + 155)),
        ]
    )
    assert actions(steps) == [Nudge("t1"), NoAction(), Nudge("t1")]


def test_a_resolution_is_reported_only_by_the_call_that_settled_it():
    steps = run(
        [
            (T0 + 130, status(progress=T0 + 10)),
            (T0 + 160, status(progress=T0 + 155)),
            (T0 + 190, status(progress=T0 + 185)),
        ]
    )
    assert steps[1][0].resolution is not None
    assert steps[2][0].resolution is None


def test_a_stuck_turn_after_a_nudge_is_aborted_and_the_nudge_was_ineffective():
    steps = run([(T0 + 120, status()), (T0 + 360, status())])
    assert actions(steps) == [Nudge("t1"), Abort("t1")]
    assert steps[-1][0].resolution == Resolution(ActionKind.NUDGE, "t1", effective=False)


def test_a_turn_first_seen_stuck_is_aborted_at_once():
    assert actions(run([(T0 + 400, status())])) == [Abort("t1")]


def test_an_abort_that_ended_the_turn_was_effective():
    steps = run([(T0 + 400, status()), (T0 + 430, IDLE)])
    assert actions(steps) == [Abort("t1"), NoAction()]
    assert steps[-1][0].resolution == Resolution(ActionKind.ABORT, "t1", effective=True)


def test_an_abort_is_given_a_grace_before_it_is_judged():
    steps = run([(T0 + 400, status()), (T0 + 410, status()), (T0 + 420, status())])
    assert actions(steps) == [Abort("t1"), NoAction(), NoAction()]
    assert all(state.resolution is None for state, _ in steps)


def test_the_same_turn_still_current_past_the_grace_gets_its_owner_replaced():
    steps = run([(T0 + 400, status()), (T0 + 430, status())])
    assert actions(steps) == [Abort("t1"), Replace("t1", why="abort_ineffective")]
    assert steps[-1][0].resolution == Resolution(ActionKind.ABORT, "t1", effective=False)


def test_an_abort_always_names_the_turn_it_was_decided_on():
    # t1 is stuck and aborted; t2 replaces it and stalls at once. The ladder starts over
    # for t2 at the bottom: nothing aimed at t1 can reach t2.
    steps = run(
        [
            (T0 + 400, status("t1")),
            (T0 + 430, status("t2", started=T0 + 300)),
        ]
    )
    assert actions(steps) == [Abort("t1"), Nudge("t2")]


def test_a_new_turn_resets_the_ladder_and_settles_the_old_turns_step():
    steps = run([(T0 + 120, status("t1")), (T0 + 150, status("t2", started=T0 + 140))])
    assert actions(steps) == [Nudge("t1"), NoAction()]
    state, _ = steps[-1]
    assert state.resolution == Resolution(ActionKind.NUDGE, "t1", effective=True)
    assert (state.turn_id, state.pending, state.warned) == ("t2", None, False)


def test_one_missed_answer_is_tolerated():
    assert actions(run([(T0, NoAnswer())])) == [NoAction()]


W = TH.effective_wedged_after  # 390 s with the default thresholds


def test_an_owner_silent_for_wedged_after_is_replaced():
    steps = run([(T0, status(progress=T0)), (T0 + 30, NoAnswer()), (T0 + W, NoAnswer())])
    assert actions(steps)[1:] == [NoAction(), Replace("t1")]


def test_missed_answers_alone_never_replace_an_owner_before_wedged_after():
    # The churn seen under fsync pressure: a 0.4 s tick and two misses replaced healthy owners.
    fast = Thresholds(recovery_tick=0.4, stall_after=1.0, abort_after=2.0)
    steps = run([(T0, IDLE)] + [(T0 + 0.4 * i, NoAnswer()) for i in range(1, 140)], thresholds=fast)
    assert set(actions(steps)) == {NoAction()}
    assert steps[-1][0].missed_answers == 139


def test_silence_is_measured_from_the_last_answer_not_from_the_first_miss():
    fast = Thresholds(recovery_tick=0.4, stall_after=1.0, abort_after=2.0)
    steps = run([(T0, IDLE), (T0 + 59, NoAnswer()), (T0 + 60, NoAnswer())], thresholds=fast)
    assert actions(steps) == [NoAction(), NoAction(), Replace(None)]


def test_an_answer_between_misses_resets_the_count():
    steps = run([(T0, NoAnswer()), (T0 + W, IDLE), (T0 + W + 30, NoAnswer()), (T0 + 2 * W - 1, NoAnswer())])
    assert actions(steps) == [NoAction(), NoAction(), NoAction(), NoAction()]


def test_the_number_of_tolerated_misses_is_configurable():
    thresholds = Thresholds(wedged_after_misses=3)
    steps = run([(T0 + i * W, NoAnswer()) for i in range(3)], thresholds=thresholds)
    assert actions(steps) == [NoAction(), NoAction(), Replace(None)]


def test_an_owner_that_goes_silent_after_a_nudge_makes_the_nudge_ineffective():
    steps = run([(T0 + 120, status()), (T0 + 150, NoAnswer()), (T0 + 120 + W, NoAnswer())])
    assert actions(steps) == [Nudge("t1"), NoAction(), Replace("t1")]
    assert steps[-1][0].resolution == Resolution(ActionKind.NUDGE, "t1", effective=False)


def test_an_answer_after_a_replace_marks_the_replace_effective():
    steps = run([(T0, NoAnswer()), (T0 + W, NoAnswer()), (T0 + W + 30, IDLE)])
    assert steps[-1][0].resolution == Resolution(ActionKind.REPLACE, None, effective=True)


def test_a_replacement_that_also_stays_silent_is_replaced_again():
    steps = run([(T0 + W * i, NoAnswer()) for i in range(4)])
    assert actions(steps) == [NoAction(), Replace(None), NoAction(), Replace(None)]
    assert steps[-1][0].resolution == Resolution(ActionKind.REPLACE, None, effective=False)


def test_a_turn_replayed_by_a_new_owner_starts_its_ladder_from_the_bottom():
    steps = run(
        [
            (T0 + 400, status("t1")),
            (T0 + 430, status("t1")),  # abort ineffective: replace
            (T0 + 460, status("t1", started=T0 + 450)),  # the new owner replays t1
            (T0 + 570, status("t1", started=T0 + 450)),  # stalled again
        ]
    )
    assert actions(steps) == [Abort("t1"), Replace("t1", why="abort_ineffective"), NoAction(), Nudge("t1")]


def test_states_and_actions_survive_pickling():
    state, action = run([(T0 + 120, status())])[0]
    assert pickle.loads(pickle.dumps((state, action))) == (state, action)


def test_a_full_ladder_is_recorded_with_each_outcome():
    observations = [
        (T0 + 120, status()),  # nudge
        (T0 + 360, status()),  # nudge ineffective, abort
        (T0 + 390, status()),  # abort ineffective, replace
        (T0 + 420, IDLE),  # replace effective
    ]
    state, history = EscalationState(), RecoveryHistory()
    for now, observation in observations:
        state, action = decide(state, observation, now, TH)
        history = record_decision(history, "s1", state, action, now)
    assert [(a.kind, a.turn_id, a.action_time, a.outcome) for a in history.actions] == [
        (ActionKind.NUDGE, "t1", T0 + 120, ActionOutcome.INEFFECTIVE),
        (ActionKind.ABORT, "t1", T0 + 360, ActionOutcome.INEFFECTIVE),
        (ActionKind.REPLACE, "t1", T0 + 390, ActionOutcome.EFFECTIVE),
    ]
    assert history.actions[0].resolved_time == T0 + 360


def test_no_action_records_nothing():
    history = record_decision(RecoveryHistory(), "s1", EscalationState(), NoAction(), T0)
    assert history.actions == ()


_turn_ids = st.sampled_from([None, "t1", "t2", "t3"])
_observation = st.one_of(
    st.just(NoAnswer()),
    st.builds(
        lambda turn, start, progress: status(turn, T0 + start, progress and T0 + start + progress),
        _turn_ids,
        st.floats(min_value=0, max_value=2000),
        st.one_of(st.none(), st.floats(min_value=0, max_value=2000)),
    ),
)


@given(
    st.lists(st.tuples(st.floats(min_value=0, max_value=30), _observation), min_size=1, max_size=40)
)
def test_every_turn_action_names_the_turn_observed_in_the_same_call(steps):
    state, now = EscalationState(), T0
    for gap, observation in steps:
        now += gap
        state, action = decide(state, observation, now, TH)
        if isinstance(action, Warn | Nudge | Abort):
            assert isinstance(observation, OwnerStatus)
            assert action.turn_id == observation.turn_id is not None
        if state.pending is not None:
            assert state.pending.kind in (ActionKind.NUDGE, ActionKind.ABORT, ActionKind.REPLACE)


@given(st.lists(st.floats(min_value=0, max_value=2000), min_size=1, max_size=30))
def test_a_turn_is_warned_at_most_once_however_often_it_is_observed(offsets):
    state, warns = EscalationState(), 0
    for offset in sorted(offsets):
        now = T0 + 600 + offset
        state, action = decide(state, status(progress=now - 1), now, TH)
        warns += isinstance(action, Warn)
    assert warns <= 1
