"""Dead, wedged or slow, and how often one file's owner may be replaced: pure rules."""

from __future__ import annotations

import pytest

from sessionward.errors import BadInputError
from sessionward.recovery.liveness import (
    OwnerFacts,
    Park,
    ReplacementHistory,
    ReplacementPolicy,
    Restart,
    Verdict,
    cleared,
    judge,
    next_replacement,
)

T0 = 1_700_000_000.0
POLICY = ReplacementPolicy(backoff=1.0, backoff_max=8.0, park_after=3, park_window=600.0)


def test_an_owner_whose_process_is_gone_is_dead_whatever_else_is_known():
    assert judge(OwnerFacts("live", False, T0), T0 + 1, 60)[0] is Verdict.DEAD
    assert judge(OwnerFacts("activating", False, T0), T0 + 1, 60)[0] is Verdict.DEAD


def test_an_owner_that_activates_for_thirty_minutes_is_never_wedged():
    verdict, why = judge(OwnerFacts("activating", True, T0), T0 + 1800, 60)
    assert verdict is Verdict.ACTIVATING and "activating" in why


def test_an_owner_heard_from_within_wedged_after_is_answering():
    verdict, why = judge(OwnerFacts("live", True, T0), T0 + 59.9, 60)
    assert verdict is Verdict.ANSWERING and "59.9 s ago" in why


def test_a_live_owner_silent_for_wedged_after_with_its_process_alive_is_wedged():
    assert judge(OwnerFacts("live", True, T0), T0 + 60, 60)[0] is Verdict.WEDGED


def test_an_owner_on_another_member_is_judged_by_silence_alone():
    assert judge(OwnerFacts("live", None, T0), T0 + 61, 60)[0] is Verdict.WEDGED


def test_the_first_replacement_is_immediate_and_later_ones_back_off_exponentially():
    history, delays = ReplacementHistory(), []
    for i in range(3):
        history, decision = next_replacement(history, T0 + i, POLICY)
        assert isinstance(decision, Restart)
        delays.append(decision.delay)
    assert delays == [0.0, 1.0, 2.0]


def test_the_backoff_is_capped():
    policy = ReplacementPolicy(backoff=1.0, backoff_max=3.0, park_after=10)
    history, delays = ReplacementHistory(), []
    for i in range(6):
        history, decision = next_replacement(history, T0 + i, policy)
        delays.append(decision.delay)
    assert delays == [0.0, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_a_file_replaced_park_after_times_in_the_window_is_parked():
    history = ReplacementHistory()
    for i in range(3):
        history, _ = next_replacement(history, T0 + i, POLICY)
    history, decision = next_replacement(history, T0 + 10, POLICY)
    assert isinstance(decision, Park)
    assert "3 times in 600 s" in decision.reason
    assert len(history.times) == 3


def test_replacements_older_than_the_window_no_longer_count():
    history = ReplacementHistory()
    for i in range(3):
        history, _ = next_replacement(history, T0 + i, POLICY)
    history, decision = next_replacement(history, T0 + 700, POLICY)
    assert decision == Restart(0.0)
    assert history.times == (T0 + 700,)


def test_unparking_starts_from_a_clean_history():
    assert next_replacement(cleared(), T0, POLICY)[1] == Restart(0.0)


@pytest.mark.parametrize("kwargs", [{"backoff": 0}, {"park_window": float("nan")}, {"park_after": 0},
                                    {"park_after": True}, {"backoff_max": -1}])
def test_a_bad_replacement_policy_is_refused(kwargs):
    with pytest.raises(BadInputError):
        ReplacementPolicy(**kwargs)
