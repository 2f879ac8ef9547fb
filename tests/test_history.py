"""Recovery history: a bounded, frozen log of recovery actions and their outcomes."""

from __future__ import annotations

import pickle

import pytest

from sessionward.errors import BadInputError
from sessionward.recovery.history import (
    ActionKind,
    ActionOutcome,
    RecoveryAction,
    RecoveryHistory,
)

T0 = 1_700_000_000.0


def action(kind=ActionKind.NUDGE, key="s1", turn="t1", at=T0):
    return RecoveryAction(kind, key, turn, at)


def test_a_new_history_is_empty_with_a_cap_of_one_thousand():
    history = RecoveryHistory()
    assert history.actions == ()
    assert history.cap == 1000


def test_a_recorded_action_starts_pending():
    history = RecoveryHistory().record(action())
    assert history.actions == (action(),)
    assert history.actions[0].outcome is ActionOutcome.PENDING
    assert history.actions[0].resolved_time is None


def test_recording_returns_a_new_history_and_leaves_the_old_one_unchanged():
    empty = RecoveryHistory()
    one = empty.record(action())
    assert empty.actions == ()
    assert len(one.actions) == 1


def test_the_oldest_actions_are_dropped_past_the_cap():
    history = RecoveryHistory(cap=3)
    for i in range(5):
        history = history.record(action(turn=f"t{i}", at=T0 + i))
    assert [a.turn_id for a in history.actions] == ["t2", "t3", "t4"]


@pytest.mark.parametrize("cap", [0, -1, 2.5])
def test_a_cap_below_one_is_refused(cap):
    with pytest.raises(BadInputError):
        RecoveryHistory(cap=cap)


def test_resolve_marks_a_pending_nudge_effective_when_the_turn_progressed():
    history = RecoveryHistory().record(action()).resolve("s1", "t1", progressed=True, now=T0 + 30)
    (nudge,) = history.actions
    assert nudge.outcome is ActionOutcome.EFFECTIVE
    assert nudge.resolved_time == T0 + 30


def test_resolve_marks_a_pending_abort_ineffective_when_nothing_changed():
    history = RecoveryHistory().record(action(ActionKind.ABORT))
    history = history.resolve("s1", "t1", progressed=False, now=T0 + 30)
    assert history.actions[0].outcome is ActionOutcome.INEFFECTIVE


def test_resolve_touches_only_the_given_session_and_turn():
    history = (
        RecoveryHistory()
        .record(action(key="s1", turn="t1"))
        .record(action(key="s1", turn="t2"))
        .record(action(key="s2", turn="t1"))
        .resolve("s1", "t1", progressed=True, now=T0 + 1)
    )
    assert [a.outcome for a in history.actions] == [
        ActionOutcome.EFFECTIVE,
        ActionOutcome.PENDING,
        ActionOutcome.PENDING,
    ]


def test_resolve_leaves_actions_already_judged_alone():
    history = RecoveryHistory().record(action()).resolve("s1", "t1", progressed=False, now=T0 + 1)
    history = history.record(action(at=T0 + 2)).resolve("s1", "t1", progressed=True, now=T0 + 3)
    assert [(a.outcome, a.resolved_time) for a in history.actions] == [
        (ActionOutcome.INEFFECTIVE, T0 + 1),
        (ActionOutcome.EFFECTIVE, T0 + 3),
    ]


def test_a_warning_is_never_judged():
    history = RecoveryHistory().record(action(ActionKind.WARN))
    assert history.resolve("s1", "t1", progressed=True, now=T0 + 1) is history


def test_a_replace_without_a_turn_is_resolved_by_a_none_turn_id():
    history = RecoveryHistory().record(action(ActionKind.REPLACE, turn=None))
    history = history.resolve("s1", None, progressed=True, now=T0 + 1)
    assert history.actions[0].outcome is ActionOutcome.EFFECTIVE


def test_resolving_an_unknown_turn_returns_the_same_history():
    history = RecoveryHistory().record(action())
    assert history.resolve("s1", "other", progressed=True, now=T0) is history


def test_since_returns_the_actions_at_or_after_a_time_oldest_first():
    history = RecoveryHistory()
    for i in range(4):
        history = history.record(action(turn=f"t{i}", at=T0 + 10 * i))
    assert [a.turn_id for a in history.since(T0 + 10)] == ["t1", "t2", "t3"]
    assert history.since(T0 + 100) == ()


def test_counts_since_counts_each_kind_and_names_every_kind():
    history = (
        RecoveryHistory()
        .record(action(ActionKind.NUDGE, at=T0))
        .record(action(ActionKind.NUDGE, at=T0 + 5))
        .record(action(ActionKind.ABORT, at=T0 + 6))
        .record(action(ActionKind.WARN, at=T0 + 7))
    )
    assert history.counts_since(T0 + 1) == {
        ActionKind.WARN: 1,
        ActionKind.NUDGE: 1,
        ActionKind.ABORT: 1,
        ActionKind.REPLACE: 0,
    }


def test_a_history_survives_pickling():
    history = RecoveryHistory(cap=5).record(action()).resolve("s1", "t1", True, T0 + 1)
    assert pickle.loads(pickle.dumps(history)) == history


def test_action_kinds_and_outcomes_are_a_closed_set_of_strings():
    assert [k.value for k in ActionKind] == ["warn", "nudge", "abort", "replace"]
    assert [o.value for o in ActionOutcome] == ["pending", "effective", "ineffective"]
