"""What a new owner re-queues after a crash, and what it answers retries from. Pure."""

import base64
import pickle

import attrs

from sessionward.actors.activation import replay
from sessionward.actors.ledger import TurnLedger
from sessionward.lanes import queue_policy as qp
from sessionward.outcomes import TurnStatus
from sessionward.recovery.replay import decode_reply, ended_unheard, finished_turns, plan_replay
from sessionward.storage import entries as E
from sessionward.storage.inbox import InboxTurn


def _turn(turn_id: str, attempts: int = 0, accepted_time: float = 1.0, reply: str | None = None) -> InboxTurn:
    return InboxTurn(turn_id, "direct:cli:a", f"text {turn_id}", "followup", accepted_time,
                     idempotency_key=f"k-{turn_id}", attempts=attempts, reply=reply)


def _sent_to(address: str, turn_id: str) -> str:
    """An inbox line's reply blob: the submitter's address and the request id ``req-<turn>``."""
    return base64.b64encode(pickle.dumps((address, f"req-{turn_id}"))).decode("ascii")


def _entries(*specs):
    """specs: ("user"|"reply"|"end", turn_id)."""
    out, ids, parent = [], set(), None
    for kind, turn in specs:
        if kind == "user":
            e = E.user_entry("hi", turn_id=turn, lane="direct:cli:a", ids=ids, parent_id=parent, now=1.0)
        elif kind == "reply":
            e = E.assistant_entry([{"type": "text", "text": f"reply {turn}"}], stop_reason="stop", provider="p",
                                  turn_id=turn, ids=ids, parent_id=parent, now=1.0)
        else:
            e = E.turn_end_entry(turn_id=turn, status="completed", reason=None, ids=ids, parent_id=parent, now=1.0,
                                 idempotency_key=f"k-{turn}")
        ids.add(e["id"])
        parent = e["id"]
        out.append(e)
    return out


def test_a_finished_turn_is_not_replayed():
    plan = plan_replay([_turn("a")], set(), _entries(("user", "a"), ("reply", "a"), ("end", "a")), policy="requeue")
    assert plan.requeue == () and plan.fail == () and plan.already_completed == ()


def test_a_turn_whose_reply_is_written_is_closed_not_rerun():
    plan = plan_replay([_turn("a")], set(), _entries(("user", "a"), ("reply", "a")), policy="requeue")
    assert [i.turn.turn_id for i in plan.already_completed] == ["a"]
    assert plan.already_completed[0].reply == "reply a"
    assert plan.requeue == ()


def test_an_unstarted_or_interrupted_turn_is_requeued_once():
    plan = plan_replay([_turn("a"), _turn("b")], set(), _entries(("user", "a")), policy="requeue")
    assert [i.turn.turn_id for i in plan.requeue] == ["a", "b"]


def test_a_turn_already_replayed_once_is_failed_instead():
    plan = plan_replay([_turn("a", attempts=1)], set(), [], policy="requeue")
    assert plan.requeue == () and [i.turn.turn_id for i in plan.fail] == ["a"]


def test_the_fail_policy_fails_every_unfinished_turn():
    plan = plan_replay([_turn("a")], set(), [], policy="fail")
    assert [i.turn.turn_id for i in plan.fail] == ["a"]


def test_turns_marked_finished_in_the_inbox_are_skipped():
    assert plan_replay([_turn("a")], {"a"}, [], policy="requeue") == plan_replay([], set(), [], policy="requeue")


def test_finished_turns_carry_their_reply_lane_and_idempotency_key():
    done = finished_turns(_entries(("user", "a"), ("reply", "a"), ("end", "a"), ("user", "b")))
    assert [(d.turn_id, d.reply, d.lane, d.idempotency_key, d.status) for d in done] == [
        ("a", "reply a", "direct:cli:a", "k-a", "completed")]


def test_an_unreadable_reply_blob_decodes_to_nothing():
    assert decode_reply(None) == (None, "")
    assert decode_reply("not base64 pickle") == (None, "")


def test_a_lost_owner_s_ended_turns_are_sent_again_to_their_submitters_newest_within_the_window():
    accepted = [_turn(t, accepted_time=at, reply=_sent_to("client", t))
                for t, at in (("old", 100.0), ("a", 900.0), ("rode", 920.0), ("b", 950.0), ("running", 990.0))]
    accepted.append(_turn("nobody", accepted_time=995.0))  # no address kept: nobody to tell
    entries = _entries(*[(kind, t) for t in ("old", "a", "b", "nobody") for kind in ("user", "reply", "end")],
                       ("user", "running"))
    finished = {"old": "old", "a": "a", "rode": "a", "b": "b", "nobody": "nobody"}  # "rode" was merged into "a"
    again = ended_unheard(accepted, finished, finished_turns(entries), now=1000.0, within=600.0)
    assert [(item.turn.turn_id, item.reply_to, item.request_id, item.reply, done.turn_id) for item, done in again] == [
        ("a", "client", "req-a", "reply a", "a"), ("rode", "client", "req-rode", "reply a", "a"),
        ("b", "client", "req-b", "reply b", "b")]
    newest = ended_unheard(accepted, finished, finished_turns(entries), now=1000.0, within=600.0, most=1)
    assert [item.turn.turn_id for item, _ in newest] == ["b"]


def test_the_next_owner_sends_ended_outcomes_again_only_after_a_loss_and_closes_nothing_twice():
    accepted = [_turn("a", accepted_time=990.0, reply=_sent_to("client", "a")),
                _turn("b", accepted_time=995.0, reply=_sent_to("client", "b"))]
    entries = _entries(("user", "a"), ("reply", "a"), ("end", "a"), ("user", "b"), ("reply", "b"))

    def deliveries(after_loss: bool):
        steps = replay(entries, accepted, {}, TurnLedger("agent:main:main"), qp.SessionQueue(), 1000.0,
                       policy="requeue", after_loss=after_loss)
        return steps, [(d.reply_to, d.outcome.request_id, d.outcome.turn_id, d.outcome.status, d.outcome.reply)
                       for d in steps.deliveries]

    steps, sent = deliveries(after_loss=True)
    # a: ended by the lost owner, sent again; b: its reply is in the file and its turn_end is
    # not, so the replay closes it (and answers it once, as before).
    assert sent == [("client", "req-a", "a", TurnStatus.COMPLETED, "reply a"),
                    ("client", "req-b", "b", TurnStatus.COMPLETED, "reply b")]
    assert [c.turn.turn_id for c in steps.closings] == ["b"]
    _, passivated = deliveries(after_loss=False)
    assert passivated == [("client", "req-b", "b", TurnStatus.COMPLETED, "reply b")]


def test_a_crash_counts_against_a_turn_only_if_it_interrupted_it():
    queued, running = _turn("queued"), _turn("running")
    entries = _entries(("user", "running"))

    def replayed(turns):
        steps = replay(entries, turns, {}, TurnLedger("agent:main:main"), qp.SessionQueue(), 1000.0,
                       policy="requeue")
        return {t.turn_id: t.attempts for t in steps.pending}, [c.turn.turn_id for c in steps.closings]

    once, failed = replayed([queued, running])
    assert once == {"queued": 0, "running": 1} and failed == []
    # The next owner dies too: the turn that was interrupted has had its one replay; the
    # one that never ran has not used it, and waits again.
    twice, failed = replayed([attrs.evolve(queued, attempts=once["queued"]),
                              attrs.evolve(running, attempts=once["running"])])
    assert twice == {"queued": 0} and failed == ["running"]
