"""The turn ledger, without an actor system: tickets, riders, retries, idempotency, history."""

from __future__ import annotations

import pickle

import attrs

from sessionward.actors.ledger import (
    HISTORY_SIZE,
    Delivery,
    Retry,
    Ticket,
    TurnLedger,
    accepted_as,
    inbox_record,
    replayed_ticket,
)
from sessionward.actors.messages import AcceptDecision, TurnRecord
from sessionward.lanes import queue_policy as qp
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.recovery.replay import FinishedTurn, decode_reply
from sessionward.storage.inbox import InboxTurn

KEY = "direct:cli:a"
FOLLOWUP = qp.QueueMode.FOLLOWUP


def ticket(turn_id: str, *, key: str | None = None, reply_to: object = "addr", request_id: str | None = None,
           lane: str = "direct:cli:a") -> Ticket:
    return Ticket(turn_id, lane, f"text {turn_id}", FOLLOWUP, 1.0, reply_to, request_id or f"req-{turn_id}",
                  idempotency_key=key)


def test_settling_a_turn_builds_one_final_outcome_for_its_submitter_and_forgets_the_ticket():
    ledger = TurnLedger(KEY)
    t = ticket("t1")
    ledger.open(t)
    done = ledger.settle(t, TurnStatus.CANCELLED, OutcomeReason.CANCELLED, "cancelled on request", 5.0)
    assert done.finished == ("t1",)
    assert done.deliveries == (Delivery("addr", TurnOutcome(
        "t1", KEY, TurnStatus.CANCELLED, reason=OutcomeReason.CANCELLED, detail="cancelled on request",
        lane="direct:cli:a", mode_applied=FOLLOWUP, request_id="req-t1", accepted_time=1.0, finished_time=5.0)),)
    assert ledger.get("t1") is None and ledger.owed(None) == []


def test_a_merged_turn_hears_merged_now_and_the_carriers_final_outcome_under_its_own_request():
    ledger = TurnLedger(KEY)
    carrier, rider = ticket("c"), ticket("r", reply_to="rider-addr", lane="channel:x")
    ledger.open(carrier)
    ledger.open(rider)
    merged = ledger.merge("r", "c", qp.QueueMode.COLLECT)
    assert merged is not None and merged.reply_to == "rider-addr"
    assert merged.outcome.status is TurnStatus.MERGED and merged.outcome.merged_into == "c"
    assert ledger.owed(None) == [carrier]  # the rider ends with its carrier, not on its own
    done = ledger.settle(carrier, TurnStatus.COMPLETED, None, "", 9.0)
    assert done.finished == ("c", "r")
    assert [(d.reply_to, d.outcome.request_id, d.outcome.lane) for d in done.deliveries] == [
        ("addr", "req-c", "direct:cli:a"), ("rider-addr", "req-r", "channel:x")]
    assert all(d.outcome.status is TurnStatus.COMPLETED for d in done.deliveries)


def test_a_retry_of_a_running_turn_rides_on_it_and_writes_no_inbox_line_of_its_own():
    ledger = TurnLedger(KEY)
    t = ticket("t1", key="k1")
    ledger.open(t)
    answer = ledger.answer_retry("k1", "req-retry", "direct:cli:a", "retry-addr")
    assert answer is not None and answer.turn_id == "t1" and answer.outcome is None
    assert t.riders == [Retry("req-retry", "direct:cli:a", "retry-addr")]
    assert ledger.owed(t) == [t]  # a retry is not a turn: nothing more is owed
    done = ledger.settle(t, TurnStatus.COMPLETED, None, "", 2.0)
    assert done.finished == ("t1",)
    assert [(d.reply_to, d.outcome.request_id) for d in done.deliveries] == [("addr", "req-t1"),
                                                                               ("retry-addr", "req-retry")]


def test_a_retry_of_a_merged_turn_rides_on_that_rider_and_gets_the_carriers_outcome():
    ledger = TurnLedger(KEY)
    carrier, rider = ticket("c"), ticket("r", key="kr")
    ledger.open(carrier)
    ledger.open(rider)
    ledger.merge("r", "c", qp.QueueMode.STEER)
    ledger.answer_retry("kr", "req-again", "direct:cli:a", "again-addr")
    done = ledger.settle(carrier, TurnStatus.COMPLETED, None, "", 3.0)
    assert [d.outcome.request_id for d in done.deliveries] == ["req-c", "req-r", "req-again"]


def test_a_retry_of_a_finished_turn_is_answered_from_memory_with_its_own_request_id():
    ledger = TurnLedger(KEY)
    t = ticket("t1", key="k1")
    ledger.open(t)
    ledger.settle(t, TurnStatus.COMPLETED, None, "", 2.0)
    answer = ledger.answer_retry("k1", "req-later", "direct:cli:a", "later-addr")
    assert answer is not None and answer.outcome is not None
    assert answer.outcome.turn_id == "t1" and answer.outcome.request_id == "req-later"


def test_the_directorys_re_forward_of_a_held_submit_is_recognised_and_gets_no_rider():
    ledger = TurnLedger(KEY)
    t = ticket("t1", key="k1", request_id="req-1")
    ledger.open(t)
    answer = ledger.answer_retry("k1", "req-1", "direct:cli:a", "addr")
    assert answer is not None and answer.forwarded_again and t.riders == []


def test_an_unknown_idempotency_key_is_no_retry():
    assert TurnLedger(KEY).answer_retry("new", "r", "direct:cli:a", None) is None


def test_owed_puts_the_running_turn_first_then_the_rest_in_acceptance_order():
    ledger = TurnLedger(KEY)
    a, b, c = ticket("a"), ticket("b"), ticket("c")
    for t in (a, b, c):
        ledger.open(t)
    assert ledger.owed(b) == [b, a, c]


def test_a_refused_heartbeat_is_counted_and_its_outcome_has_no_turn_id():
    ledger = TurnLedger(KEY)
    outcome = ledger.refused("heartbeat", "req", OutcomeReason.HEARTBEAT_SKIPPED, "session busy", 4.0,
                             TurnStatus.CANCELLED)
    assert outcome == TurnOutcome("", KEY, TurnStatus.CANCELLED, reason=OutcomeReason.HEARTBEAT_SKIPPED,
                                  detail="session busy", lane="heartbeat", request_id="req", finished_time=4.0)
    assert ledger.counts == {"completed": 0, "failed": 0, "heartbeat_skipped": 1}


def test_history_keeps_the_last_turns_and_counts_every_non_completed_end_as_failed():
    ledger = TurnLedger(KEY)
    for i in range(HISTORY_SIZE + 3):
        t = ticket(f"t{i}")
        ledger.open(t)
        status = TurnStatus.COMPLETED if i % 2 else TurnStatus.CANCELLED
        ledger.settle(t, status, None if i % 2 else OutcomeReason.CANCELLED, "", float(i))
    assert len(ledger.history) == HISTORY_SIZE
    assert ledger.history[-1] == TurnRecord(f"t{HISTORY_SIZE + 2}", "direct:cli:a", "cancelled", "cancelled",
                                            float(HISTORY_SIZE + 2))
    assert ledger.counts == {"completed": 11, "failed": 12, "heartbeat_skipped": 0}


def test_a_turn_the_file_ends_answers_retries_and_unknown_values_stay_typed():
    ledger = TurnLedger(KEY)
    ledger.restore_finished(FinishedTurn("t0", "weird", "no-such-reason", "k0", "hello", "cron:x"))
    answer = ledger.answer_retry("k0", "req", "cron:x", None)
    assert answer is not None and answer.outcome is not None
    assert answer.outcome.status is TurnStatus.FAILED and answer.outcome.reason is OutcomeReason.INTERNAL_ERROR
    assert answer.outcome.reply == "hello"


def test_a_turn_closed_by_replay_answers_a_re_forwarded_submit_from_memory():
    ledger = TurnLedger(KEY)
    turn = InboxTurn("t1", "direct:cli:a", "hi", "followup", 1.0, "k1")
    outcome = ledger.close_replayed(turn, "req-1", TurnStatus.FAILED, 7.0, reason=OutcomeReason.OWNER_LOST)
    assert outcome.finished_time == 7.0 and outcome.reason is OutcomeReason.OWNER_LOST
    answer = ledger.answer_retry("k1", "req-2", "direct:cli:a", None)
    assert answer is not None and answer.outcome == attrs.evolve(outcome, request_id="req-2")


def test_remembered_outcomes_are_bounded():
    from sessionward.actors import ledger as L

    ledger = TurnLedger(KEY)
    for i in range(L.REMEMBERED_OUTCOMES + 5):
        t = ticket(f"t{i}", key=f"k{i}")
        ledger.open(t)
        ledger.settle(t, TurnStatus.COMPLETED, None, "", 1.0)
    oldest = ledger.answer_retry("k0", "r", "direct:cli:a", None)
    newest = ledger.answer_retry(f"k{L.REMEMBERED_OUTCOMES + 4}", "r", "direct:cli:a", None)
    assert oldest is not None and oldest.outcome is None
    assert newest is not None and newest.outcome is not None


def test_accepted_as_says_what_turn_accepted_reports():
    assert accepted_as(qp.Queued(2), qp.QueueMode.FOLLOWUP) == (AcceptDecision.QUEUED, 2, FOLLOWUP)
    assert accepted_as(qp.Queued(0, fell_back_from=qp.QueueMode.STEER), qp.QueueMode.STEER) == (
        AcceptDecision.QUEUED, 0, FOLLOWUP)
    assert accepted_as(qp.Collecting(3.0), qp.QueueMode.COLLECT)[0] == "collecting"
    assert accepted_as(qp.Steered("x"), qp.QueueMode.STEER)[2] is qp.QueueMode.STEER
    assert accepted_as(qp.Interrupting("x"), qp.QueueMode.INTERRUPT)[0] is AcceptDecision.INTERRUPTING


def test_the_inbox_record_keeps_where_the_outcome_goes_and_a_replayed_ticket_reads_it_back():
    t = ticket("t1", reply_to=("some", "address"), request_id="req-9")
    record = inbox_record(InboxTurn("t1", "direct:cli:a", "hi", "collect", 1.0, None), t)
    assert decode_reply(record.reply) == (("some", "address"), "req-9")
    back = replayed_ticket(record, *decode_reply(record.reply))
    assert back.replayed and back.mode is qp.QueueMode.COLLECT and back.request_id == "req-9"


def test_an_address_that_does_not_pickle_leaves_the_outcome_queryable_only():
    t = ticket("t1", reply_to=lambda: None)
    with_reply = inbox_record(InboxTurn("t1", "direct:cli:a", "hi", "followup", 1.0, None), t)
    assert with_reply.reply is None
    assert pickle.loads(pickle.dumps(Retry("r", "l", None))) == Retry("r", "l", None)
