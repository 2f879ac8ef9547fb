"""One session's queue: modes, priorities, the collect buffer, caps, cancel and drain."""

from __future__ import annotations

import pickle
from collections import Counter

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionward.lanes.queue_policy import (
    Collecting,
    Dropped,
    DropPolicy,
    DropReason,
    Interrupting,
    Merged,
    PendingTurn,
    Queued,
    QueueMode,
    QueuePolicy,
    RefusalReason,
    Refused,
    RunningTurn,
    SessionQueue,
    Steered,
    admit,
    cancel,
    depth,
    drain,
    next_wakeup,
    restore,
    snapshot,
    take_next,
)
from sessionward.outcomes import OutcomeReason

POLICY = QueuePolicy()
DIRECT = "direct:telegram:u1"
CHANNEL = "channel:slack:C1"
CRON = "cron:nightly"
HEARTBEAT = "heartbeat"
RUNNING = RunningTurn(turn_id="r0", lane=DIRECT)


def turn(
    turn_id: str,
    lane: str = DIRECT,
    mode: QueueMode = QueueMode.FOLLOWUP,
    text: str | None = None,
    accepted_time: float = 0.0,
) -> PendingTurn:
    return PendingTurn(
        turn_id=turn_id,
        lane=lane,
        text=text if text is not None else f"text of {turn_id}",
        mode=mode,
        accepted_time=accepted_time,
    )


def admitted(
    queue: SessionQueue,
    *turns: PendingTurn,
    running: RunningTurn | None = None,
    can_steer: bool = False,
    policy: QueuePolicy = POLICY,
    now: float = 0.0,
) -> SessionQueue:
    """Admit every turn, asserting each one was accepted."""
    for t in turns:
        result = admit(queue, t, running=running, can_steer=can_steer, policy=policy, now=now)
        assert not isinstance(result.decision, Refused), result.decision
        queue = result.queue
    return queue


def take_all(queue: SessionQueue, *, policy: QueuePolicy = POLICY, now: float) -> list[str]:
    """Take turns until none is ready; return their ids in order."""
    order = []
    while (taken := take_next(queue, policy=policy, now=now)).turn is not None:
        order.append(taken.turn.turn_id)
        queue = taken.queue
    return order


# --- followup, priorities, FIFO ---------------------------------------------------------


def test_a_followup_into_an_empty_queue_is_queued_at_position_zero() -> None:
    result = admit(SessionQueue(), turn("a"), running=None, can_steer=False, policy=POLICY, now=0)
    assert result.decision == Queued(0)
    assert snapshot(result.queue) == (turn("a"),)


def test_admit_returns_a_new_queue_and_leaves_the_old_one_unchanged() -> None:
    empty = SessionQueue()
    admit(empty, turn("a"), running=None, can_steer=False, policy=POLICY, now=0)
    assert depth(empty) == 0


def test_turns_of_one_priority_run_in_arrival_order() -> None:
    queue = admitted(SessionQueue(), turn("a"), turn("b", CHANNEL), turn("c", "main"))
    assert take_all(queue, now=0) == ["a", "b", "c"]


def test_direct_and_channel_run_before_cron_and_cron_before_heartbeat() -> None:
    # A heartbeat is only accepted by an idle session with nothing waiting, so it comes first.
    queue = admitted(SessionQueue(), turn("hb", HEARTBEAT))
    queue = admitted(queue, turn("cron", CRON), turn("chan", CHANNEL), turn("dm", DIRECT))
    assert take_all(queue, now=0) == ["chan", "dm", "cron", "hb"]


def test_the_queued_position_counts_only_turns_that_run_earlier() -> None:
    queue = admitted(SessionQueue(), turn("c1", CRON), turn("c2", CRON))
    result = admit(queue, turn("dm"), running=RUNNING, can_steer=False, policy=POLICY, now=0)
    assert result.decision == Queued(0)
    result = admit(
        result.queue, turn("c3", CRON), running=RUNNING, can_steer=False, policy=POLICY, now=0
    )
    assert result.decision == Queued(3)


def test_take_next_on_an_empty_queue_returns_no_turn() -> None:
    taken = take_next(SessionQueue(), policy=POLICY, now=0)
    assert taken.turn is None
    assert taken.merged == ()
    assert taken.dropped == ()


def test_a_duplicate_turn_id_is_a_caller_bug() -> None:
    queue = admitted(SessionQueue(), turn("a"))
    with pytest.raises(ValueError, match="already queued or running"):
        admit(queue, turn("a"), running=None, can_steer=False, policy=POLICY, now=0)
    with pytest.raises(ValueError, match="already queued or running"):
        admit(queue, turn("r0"), running=RUNNING, can_steer=False, policy=POLICY, now=0)


def test_a_mode_given_as_a_string_is_converted() -> None:
    assert turn("a", mode="collect").mode is QueueMode.COLLECT  # type: ignore[arg-type]


# --- the cap ----------------------------------------------------------------------------


def test_a_turn_past_max_queued_is_refused_busy_and_the_queue_is_unchanged() -> None:
    policy = QueuePolicy(max_queued=2)
    queue = admitted(SessionQueue(), turn("a"), turn("b"), policy=policy)
    result = admit(queue, turn("c"), running=RUNNING, can_steer=False, policy=policy, now=0)
    assert result.decision == Refused(RefusalReason.BUSY)
    assert result.queue == queue


def test_the_cap_counts_collected_messages_and_interrupts_too() -> None:
    policy = QueuePolicy(max_queued=2)
    queue = admitted(
        SessionQueue(),
        turn("c", mode=QueueMode.COLLECT),
        turn("i", mode=QueueMode.INTERRUPT),
        running=RUNNING,
        policy=policy,
    )
    for mode in QueueMode:
        if mode is QueueMode.STEER:
            continue
        result = admit(
            queue, turn("x", mode=mode), running=RUNNING, can_steer=False, policy=policy, now=0
        )
        assert result.decision == Refused(RefusalReason.BUSY), mode


def test_a_steer_into_a_running_turn_is_not_refused_at_the_cap() -> None:
    policy = QueuePolicy(max_queued=1)
    queue = admitted(SessionQueue(), turn("a"), policy=policy)
    result = admit(
        queue,
        turn("s", mode=QueueMode.STEER),
        running=RUNNING,
        can_steer=True,
        policy=policy,
        now=0,
    )
    assert result.decision == Steered("r0")


def test_a_steer_that_falls_back_at_the_cap_is_refused_busy() -> None:
    policy = QueuePolicy(max_queued=1)
    queue = admitted(SessionQueue(), turn("a"), policy=policy)
    result = admit(
        queue,
        turn("s", mode=QueueMode.STEER),
        running=RUNNING,
        can_steer=False,
        policy=policy,
        now=0,
    )
    assert result.decision == Refused(RefusalReason.BUSY)


def test_refusal_and_drop_reasons_are_outcome_reasons() -> None:
    for reason in (*RefusalReason, *DropReason):
        assert OutcomeReason(reason.value) == reason


# --- heartbeat --------------------------------------------------------------------------


def test_a_heartbeat_is_accepted_when_the_session_is_idle() -> None:
    result = admit(
        SessionQueue(), turn("hb", HEARTBEAT), running=None, can_steer=False, policy=POLICY, now=0
    )
    assert result.decision == Queued(0)


def test_a_heartbeat_is_skipped_while_a_turn_runs() -> None:
    result = admit(
        SessionQueue(),
        turn("hb", HEARTBEAT),
        running=RUNNING,
        can_steer=False,
        policy=POLICY,
        now=0,
    )
    assert result.decision == Refused(RefusalReason.HEARTBEAT_SKIPPED)
    assert depth(result.queue) == 0


def test_a_heartbeat_is_skipped_while_anything_waits_even_in_the_collect_buffer() -> None:
    for waiting in (turn("a"), turn("c", mode=QueueMode.COLLECT)):
        queue = admitted(SessionQueue(), waiting)
        result = admit(
            queue, turn("hb", HEARTBEAT), running=None, can_steer=False, policy=POLICY, now=0
        )
        assert result.decision == Refused(RefusalReason.HEARTBEAT_SKIPPED)


def test_a_second_heartbeat_is_never_queued_behind_the_first() -> None:
    queue = admitted(SessionQueue(), turn("hb1", HEARTBEAT))
    result = admit(
        queue, turn("hb2", HEARTBEAT), running=None, can_steer=False, policy=POLICY, now=0
    )
    assert result.decision == Refused(RefusalReason.HEARTBEAT_SKIPPED)


def test_a_heartbeat_in_any_mode_is_skipped_while_busy() -> None:
    for mode in QueueMode:
        result = admit(
            SessionQueue(),
            turn("hb", HEARTBEAT, mode=mode),
            running=RUNNING,
            can_steer=True,
            policy=POLICY,
            now=0,
        )
        assert result.decision == Refused(RefusalReason.HEARTBEAT_SKIPPED), mode


def test_a_heartbeat_at_the_cap_is_reported_as_skipped_not_busy() -> None:
    policy = QueuePolicy(max_queued=1)
    queue = admitted(SessionQueue(), turn("a"), policy=policy)
    result = admit(
        queue, turn("hb", HEARTBEAT), running=None, can_steer=False, policy=policy, now=0
    )
    assert result.decision == Refused(RefusalReason.HEARTBEAT_SKIPPED)


# --- steer ------------------------------------------------------------------------------


def test_a_steer_goes_into_the_running_turn_when_it_can_steer() -> None:
    queue = admitted(SessionQueue(), turn("a"))
    result = admit(
        queue,
        turn("s", mode=QueueMode.STEER),
        running=RUNNING,
        can_steer=True,
        policy=POLICY,
        now=0,
    )
    assert result.decision == Steered(into_turn_id="r0")
    assert result.queue == queue


def test_a_steer_without_a_running_turn_falls_back_to_followup() -> None:
    result = admit(
        SessionQueue(),
        turn("s", mode=QueueMode.STEER),
        running=None,
        can_steer=True,
        policy=POLICY,
        now=0,
    )
    assert result.decision == Queued(0, fell_back_from=QueueMode.STEER)
    assert snapshot(result.queue)[0].mode is QueueMode.FOLLOWUP


def test_a_steer_into_a_turn_that_cannot_steer_falls_back_to_followup() -> None:
    queue = admitted(SessionQueue(), turn("a"), running=RUNNING)
    result = admit(
        queue,
        turn("s", mode=QueueMode.STEER),
        running=RUNNING,
        can_steer=False,
        policy=POLICY,
        now=0,
    )
    assert result.decision == Queued(1, fell_back_from=QueueMode.STEER)
    assert take_all(result.queue, now=0) == ["a", "s"]


def test_a_plain_followup_does_not_say_it_fell_back() -> None:
    result = admit(SessionQueue(), turn("a"), running=RUNNING, can_steer=True, policy=POLICY, now=0)
    assert result.decision == Queued(0)
    assert result.decision.fell_back_from is None


# --- interrupt --------------------------------------------------------------------------


def test_an_interrupt_while_running_asks_to_abort_the_running_turn() -> None:
    result = admit(
        SessionQueue(),
        turn("i", mode=QueueMode.INTERRUPT),
        running=RUNNING,
        can_steer=True,
        policy=POLICY,
        now=0,
    )
    assert result.decision == Interrupting(running_turn_id="r0")


def test_an_interrupt_runs_next_ahead_of_higher_priority_turns() -> None:
    queue = admitted(SessionQueue(), turn("dm1"), turn("chan", CHANNEL), running=RUNNING)
    queue = admitted(queue, turn("i", CRON, mode=QueueMode.INTERRUPT), running=RUNNING)
    assert snapshot(queue)[0].turn_id == "i"
    assert take_all(queue, now=0) == ["i", "dm1", "chan"]


def test_an_interrupt_while_idle_is_queued_first() -> None:
    queue = admitted(SessionQueue(), turn("dm1"))
    result = admit(
        queue,
        turn("i", CRON, mode=QueueMode.INTERRUPT),
        running=None,
        can_steer=False,
        policy=POLICY,
        now=0,
    )
    assert result.decision == Queued(0)
    assert take_all(result.queue, now=0) == ["i", "dm1"]


def test_two_interrupts_run_in_arrival_order_and_both_abort_the_same_running_turn() -> None:
    queue = SessionQueue()
    decisions = []
    for turn_id in ("i1", "i2"):
        result = admit(
            queue,
            turn(turn_id, mode=QueueMode.INTERRUPT),
            running=RUNNING,
            can_steer=False,
            policy=POLICY,
            now=0,
        )
        decisions.append(result.decision)
        queue = result.queue
    assert decisions == [Interrupting("r0"), Interrupting("r0")]
    assert take_all(queue, now=0) == ["i1", "i2"]


def test_an_interrupt_is_taken_even_while_a_collect_buffer_is_ready() -> None:
    queue = admitted(SessionQueue(), turn("c", mode=QueueMode.COLLECT), running=RUNNING, now=0)
    queue = admitted(queue, turn("i", mode=QueueMode.INTERRUPT), running=RUNNING, now=0)
    assert take_all(queue, now=10) == ["i", "c"]


# --- collect ----------------------------------------------------------------------------


def collected(
    *turn_ids: str,
    times: tuple[float, ...] | None = None,
    lane: str = DIRECT,
    policy: QueuePolicy = POLICY,
) -> SessionQueue:
    queue = SessionQueue()
    for i, turn_id in enumerate(turn_ids):
        now = times[i] if times else 0.0
        queue = admitted(
            queue,
            turn(turn_id, lane, QueueMode.COLLECT, accepted_time=now),
            running=RUNNING,
            policy=policy,
            now=now,
        )
    return queue


def test_a_collected_turn_reports_its_buffer_deadline() -> None:
    result = admit(
        SessionQueue(),
        turn("c", mode=QueueMode.COLLECT),
        running=RUNNING,
        can_steer=False,
        policy=QueuePolicy(collect_window=2.0),
        now=100.0,
    )
    assert result.decision == Collecting(deadline=102.0)
    assert next_wakeup(result.queue) == 102.0


def test_each_collected_arrival_moves_the_deadline_to_arrival_plus_window() -> None:
    queue = collected("a", "b", times=(100.0, 100.3))
    assert next_wakeup(queue) == pytest.approx(100.8)


def test_the_collect_buffer_is_not_taken_just_before_its_deadline() -> None:
    queue = collected("a", "b", times=(100.0, 100.25))
    taken = take_next(queue, policy=POLICY, now=100.7499)
    assert taken.turn is None
    assert taken.queue == queue


def test_the_collect_buffer_is_taken_exactly_at_its_deadline() -> None:
    queue = collected("a", "b", times=(100.0, 100.25))
    taken = take_next(queue, policy=POLICY, now=100.75)
    assert taken.turn is not None
    assert taken.turn.turn_id == "a"


def test_the_coalesced_turn_carries_the_first_id_and_every_text_one_per_line() -> None:
    queue = collected("a", "b", "c", times=(5.0, 5.1, 5.2))
    taken = take_next(queue, policy=POLICY, now=10)
    assert taken.turn == PendingTurn(
        turn_id="a",
        lane=DIRECT,
        text="text of a\ntext of b\ntext of c",
        mode=QueueMode.COLLECT,
        accepted_time=5.0,
    )
    assert taken.merged == (Merged("b", into_turn_id="a"), Merged("c", into_turn_id="a"))
    assert taken.dropped == ()
    assert depth(taken.queue) == 0
    assert next_wakeup(taken.queue) is None


def test_a_single_collected_message_runs_unchanged_with_nothing_merged() -> None:
    taken = take_next(collected("a"), policy=POLICY, now=10)
    assert taken.turn == turn("a", mode=QueueMode.COLLECT)
    assert taken.merged == ()


def test_a_buffer_that_reaches_the_cap_is_ready_before_its_deadline() -> None:
    policy = QueuePolicy(collect_cap=3, collect_window=60)
    queue = collected("a", "b", policy=policy)
    assert take_next(queue, policy=policy, now=1).turn is None
    queue = admitted(queue, turn("c", mode=QueueMode.COLLECT), running=RUNNING, policy=policy)
    taken = take_next(queue, policy=policy, now=1)
    assert taken.turn is not None
    assert taken.turn.text == "text of a\ntext of b\ntext of c"


def test_other_turns_run_while_the_collect_buffer_is_not_quiet() -> None:
    queue = collected("c1", times=(0.0,))
    queue = admitted(queue, turn("f", CRON), running=RUNNING, now=0.1)
    taken = take_next(queue, policy=POLICY, now=0.2)
    assert taken.turn is not None
    assert taken.turn.turn_id == "f"
    assert take_next(taken.queue, policy=POLICY, now=0.2).turn is None
    later = take_next(taken.queue, policy=POLICY, now=0.5).turn
    assert later is not None
    assert later.turn_id == "c1"


def test_a_ready_buffer_keeps_its_place_in_arrival_order_within_its_priority() -> None:
    queue = admitted(SessionQueue(), turn("f1"), running=RUNNING)
    queue = admitted(queue, turn("c1", mode=QueueMode.COLLECT), running=RUNNING, now=0)
    queue = admitted(queue, turn("f2"), running=RUNNING)
    assert [t.turn_id for t in snapshot(queue)] == ["f1", "c1", "f2"]
    assert take_all(queue, now=1) == ["f1", "c1", "f2"]


def test_the_coalesced_turn_has_the_best_priority_of_its_messages() -> None:
    queue = admitted(SessionQueue(), turn("f", CRON), running=RUNNING)
    queue = admitted(queue, turn("c1", CRON, QueueMode.COLLECT), running=RUNNING, now=0)
    assert take_all(queue, now=1) == ["f", "c1"]
    queue = admitted(queue, turn("c2", DIRECT, QueueMode.COLLECT), running=RUNNING, now=0)
    order = take_all(queue, now=1)
    assert order == ["c1", "f"]


@pytest.mark.parametrize(
    ("drop_policy", "text", "merged", "dropped"),
    [
        (
            DropPolicy.OLD,
            "text of m3\ntext of m4\ntext of m5",
            ("m4", "m5"),
            ("m1", "m2"),
        ),
        (
            DropPolicy.NEW,
            "text of m1\ntext of m2\ntext of m3",
            ("m2", "m3"),
            ("m4", "m5"),
        ),
        (
            DropPolicy.SUMMARIZE,
            (
                "[dropped] text of m1\n[dropped] text of m2\n[dropped] text of m3"
                "\ntext of m4\ntext of m5"
            ),
            ("m2", "m3", "m4", "m5"),
            (),
        ),
    ],
)
def test_a_buffer_over_the_cap_applies_its_drop_policy(
    drop_policy: DropPolicy, text: str, merged: tuple[str, ...], dropped: tuple[str, ...]
) -> None:
    policy = QueuePolicy(collect_cap=3, drop_policy=drop_policy)
    queue = collected("m1", "m2", "m3", "m4", "m5", policy=policy)
    taken = take_next(queue, policy=policy, now=0)
    assert taken.turn is not None
    assert taken.turn.text == text
    carrier = taken.turn.turn_id
    assert carrier == ("m3" if drop_policy is DropPolicy.OLD else "m1")
    assert taken.merged == tuple(Merged(m, carrier) for m in merged)
    assert taken.dropped == tuple(Dropped(d, DropReason.DROPPED) for d in dropped)


def test_a_buffer_exactly_at_the_cap_drops_nothing() -> None:
    policy = QueuePolicy(collect_cap=3, drop_policy=DropPolicy.NEW)
    taken = take_next(collected("a", "b", "c", policy=policy), policy=policy, now=0)
    assert taken.dropped == ()
    assert len(taken.merged) == 2


def test_a_summary_line_keeps_the_first_80_characters_on_one_line() -> None:
    policy = QueuePolicy(collect_cap=2, drop_policy=DropPolicy.SUMMARIZE)
    long_text = "line one\nline two " + "x" * 100
    queue = admitted(
        SessionQueue(),
        turn("a", mode=QueueMode.COLLECT, text=long_text),
        turn("b", mode=QueueMode.COLLECT, text="short"),
        turn("c", mode=QueueMode.COLLECT, text="last"),
        running=RUNNING,
    )
    taken = take_next(queue, policy=policy, now=1)
    assert taken.turn is not None
    first, second, third = taken.turn.text.split("\n")
    flat = "line one line two " + "x" * 100
    assert first == "[dropped] " + flat[:80] + "…"
    assert second == "[dropped] short"
    assert third == "last"


def test_summarize_with_a_cap_of_one_summarizes_every_message() -> None:
    policy = QueuePolicy(collect_cap=1, drop_policy=DropPolicy.SUMMARIZE)
    taken = take_next(collected("a", "b", policy=policy), policy=policy, now=0)
    assert taken.turn is not None
    assert taken.turn.text == "[dropped] text of a\n[dropped] text of b"
    assert taken.merged == (Merged("b", "a"),)


def test_next_wakeup_is_none_without_a_collect_buffer() -> None:
    assert next_wakeup(admitted(SessionQueue(), turn("a"))) is None


# --- cancel, snapshot, drain ------------------------------------------------------------


def test_cancel_removes_a_waiting_turn_wherever_it_waits() -> None:
    queue = admitted(
        SessionQueue(),
        turn("f"),
        turn("c", mode=QueueMode.COLLECT),
        turn("i", mode=QueueMode.INTERRUPT),
        running=RUNNING,
    )
    for turn_id in ("f", "c", "i"):
        after, found = cancel(queue, turn_id)
        assert found
        assert turn_id not in [t.turn_id for t in snapshot(after)]
        assert depth(after) == 2


def test_cancel_of_an_unknown_turn_reports_not_found_and_changes_nothing() -> None:
    queue = admitted(SessionQueue(), turn("f"))
    assert cancel(queue, "nope") == (queue, False)


def test_cancelling_the_last_collected_message_clears_the_wakeup() -> None:
    queue = collected("a", "b")
    queue, _ = cancel(queue, "a")
    assert next_wakeup(queue) is not None
    queue, _ = cancel(queue, "b")
    assert next_wakeup(queue) is None


def test_snapshot_lists_waiting_turns_in_run_order() -> None:
    queue = admitted(SessionQueue(), turn("hb", HEARTBEAT))
    queue = admitted(
        queue,
        turn("cron", CRON),
        turn("c", mode=QueueMode.COLLECT),
        turn("dm"),
        turn("i", CRON, QueueMode.INTERRUPT),
        running=RUNNING,
    )
    assert [t.turn_id for t in snapshot(queue)] == ["i", "c", "dm", "cron", "hb"]


def test_drain_empties_the_queue_and_names_every_waiting_turn_in_run_order() -> None:
    queue = admitted(
        SessionQueue(),
        turn("cron", CRON),
        turn("c", mode=QueueMode.COLLECT),
        turn("dm"),
        turn("i", mode=QueueMode.INTERRUPT),
        running=RUNNING,
    )
    empty, ids = drain(queue)
    assert ids == ("i", "c", "dm", "cron")
    assert depth(empty) == 0
    assert next_wakeup(empty) is None
    assert take_next(empty, policy=POLICY, now=100).turn is None


def test_queue_policy_refuses_nonsense_limits() -> None:
    for bad in ({"max_queued": 0}, {"collect_window": -1}, {"collect_cap": 0}):
        with pytest.raises(ValueError):
            QueuePolicy(**bad)


def test_queue_policy_converts_mode_and_drop_policy_strings() -> None:
    policy = QueuePolicy(drop_policy="summarize", default_mode="collect")  # type: ignore[arg-type]
    assert policy.drop_policy is DropPolicy.SUMMARIZE
    assert policy.default_mode is QueueMode.COLLECT


# --- every accepted turn gets exactly one ending ----------------------------------------

LANES = (DIRECT, CHANNEL, CRON, HEARTBEAT, "main")
operation = st.one_of(
    st.tuples(
        st.just("submit"), st.sampled_from(LANES), st.sampled_from(list(QueueMode)), st.booleans()
    ),
    st.tuples(st.just("take")),
    st.tuples(st.just("finish")),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.floats(0, 1)),
)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(operation, max_size=60),
    cap=st.integers(1, 4),
    drop_policy=st.sampled_from(list(DropPolicy)),
)
def test_every_accepted_turn_ends_exactly_once(
    ops: list[tuple], cap: int, drop_policy: DropPolicy
) -> None:
    """Taken, merged, dropped, cancelled or drained: each accepted turn exactly once."""
    policy = QueuePolicy(max_queued=6, collect_cap=cap, collect_window=0.3, drop_policy=drop_policy)
    queue, running, now = SessionQueue(), None, 0.0
    accepted: list[str] = []
    ended: Counter[str] = Counter()
    for n, op in enumerate(ops):
        match op:
            case ("submit", lane, mode, can_steer):
                new = turn(f"t{n}", lane, mode, accepted_time=now)
                result = admit(
                    queue, new, running=running, can_steer=can_steer, policy=policy, now=now
                )
                queue = result.queue
                if isinstance(result.decision, Steered):
                    assert running is not None
                elif not isinstance(result.decision, Refused):
                    accepted.append(new.turn_id)
            case ("take",) if running is None:
                taken = take_next(queue, policy=policy, now=now)
                queue = taken.queue
                ended.update(m.turn_id for m in taken.merged)
                ended.update(d.turn_id for d in taken.dropped)
                if taken.turn is not None:
                    ended[taken.turn.turn_id] += 1
                    running = RunningTurn(taken.turn.turn_id, taken.turn.lane)
            case ("finish",):
                running = None
            case ("cancel", i):
                queue, found = cancel(queue, f"t{i}")
                if found:
                    ended[f"t{i}"] += 1
            case ("wait", seconds):
                now += seconds
        assert depth(queue) == len(snapshot(queue)) <= policy.max_queued
        assert (next_wakeup(queue) is None) == (not queue.collecting)
    queue, remaining = drain(queue)
    ended.update(remaining)
    assert sorted(ended.elements()) == sorted(accepted)
    assert attrs.evolve(queue, arrivals=0) == SessionQueue()


def test_queues_and_decisions_survive_pickling() -> None:
    """Thespian pickles what actors send; a queue snapshot or decision may travel."""
    queue = admitted(
        SessionQueue(),
        turn("f"),
        turn("c", mode=QueueMode.COLLECT),
        turn("i", mode=QueueMode.INTERRUPT),
        running=RUNNING,
    )
    records = [
        queue,
        Queued(1, fell_back_from=QueueMode.STEER),
        Refused(RefusalReason.BUSY),
        Steered("r0"),
        Interrupting("r0"),
        Collecting(1.5),
        take_next(queue, policy=POLICY, now=9),
        Merged("a", "b"),
        Dropped("a"),
    ]
    for record in records:
        assert pickle.loads(pickle.dumps(record)) == record


def test_a_restored_turn_is_queued_even_past_the_cap_and_as_a_heartbeat():
    policy = QueuePolicy(max_queued=1)
    queue = admit(SessionQueue(), PendingTurn("a", "direct:cli:x", "a", QueueMode.FOLLOWUP, 1.0),
                  running=RunningTurn("r", "direct:cli:x"), can_steer=False, policy=policy, now=1.0).queue
    queue = restore(queue, PendingTurn("hb", "heartbeat", "beat", QueueMode.FOLLOWUP, 0.5))
    assert [t.turn_id for t in snapshot(queue)] == ["a", "hb"]


def test_a_restored_turn_that_had_started_runs_before_any_higher_priority_turn():
    # Its user entry is already in the file: anything run before it would split the turn.
    policy = QueuePolicy()
    queue = restore(SessionQueue(), PendingTurn("cron", "cron:nightly", "c", QueueMode.FOLLOWUP, 1.0),
                    started=True)
    queue = admit(queue, PendingTurn("dm", "direct:cli:x", "d", QueueMode.FOLLOWUP, 2.0),
                  running=None, can_steer=False, policy=policy, now=2.0).queue
    assert take_next(queue, policy=policy, now=2.0).turn.turn_id == "cron"
    unstarted = restore(SessionQueue(), PendingTurn("cron", "cron:nightly", "c", QueueMode.FOLLOWUP, 1.0))
    unstarted = admit(unstarted, PendingTurn("dm", "direct:cli:x", "d", QueueMode.FOLLOWUP, 2.0),
                      running=None, can_steer=False, policy=policy, now=2.0).queue
    assert take_next(unstarted, policy=policy, now=2.0).turn.turn_id == "dm"
