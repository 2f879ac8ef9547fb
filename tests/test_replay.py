"""What a new owner re-queues after a crash, and what it answers retries from. Pure."""

from sessionward.recovery.replay import decode_reply, finished_turns, plan_replay
from sessionward.storage import entries as E
from sessionward.storage.inbox import InboxTurn


def _turn(turn_id: str, attempts: int = 0) -> InboxTurn:
    return InboxTurn(turn_id, "direct:cli:a", f"text {turn_id}", "followup", 1.0, idempotency_key=f"k-{turn_id}",
                     attempts=attempts)


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
