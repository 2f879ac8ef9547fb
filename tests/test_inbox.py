"""The inbox sidecar: accepted before acknowledged, finished when done."""

from sessionward.storage.inbox import Inbox, InboxTurn


def test_accepted_and_finished_turns_survive_a_reopen(tmp_path):
    path = tmp_path / "s.jsonl.inbox"
    inbox = Inbox(path, fsync=True)
    inbox.record_accepted(InboxTurn("a", "direct:x:y", "héllo\nworld", "followup", 1.5, "key", reply="blob"))
    inbox.record_accepted(InboxTurn("b", "heartbeat", "beat", "followup", 2.0))
    inbox.record_accepted(InboxTurn("c", "channel:x:y", "merged", "collect", 2.5))
    inbox.record_finished("a", "completed", into="a")
    inbox.record_finished("c", "completed", into="a")  # merged into a: a's turn_end ends it
    inbox.close()
    accepted, finished = Inbox(path, fsync=True).load()
    assert [t.turn_id for t in accepted] == ["a", "b", "c"]
    assert accepted[0].text == "héllo\nworld" and accepted[0].reply == "blob" and accepted[0].idempotency_key == "key"
    assert finished == {"a": "a", "c": "a"}


def test_a_torn_or_foreign_line_is_skipped_and_the_rest_loads(tmp_path):
    path = tmp_path / "s.jsonl.inbox"
    inbox = Inbox(path, fsync=False)
    inbox.record_accepted(InboxTurn("a", "l", "t", "followup", 1.0))
    inbox.close()
    with open(path, "ab") as f:
        f.write(b'[1,2]\n{"kind":"accepted","turnId":"x"}\n{"kind":"acc')
    accepted, _ = Inbox(path, fsync=False).load()
    assert [t.turn_id for t in accepted] == ["a"]


def test_rewrite_keeps_only_the_pending_turns(tmp_path):
    path = tmp_path / "s.jsonl.inbox"
    inbox = Inbox(path, fsync=False)
    for turn_id in "abc":
        inbox.record_accepted(InboxTurn(turn_id, "l", "t", "followup", 1.0))
    inbox.rewrite([InboxTurn("c", "l", "t", "followup", 1.0, attempts=1)])
    inbox.record_accepted(InboxTurn("d", "l", "t", "followup", 2.0))
    inbox.close()
    accepted, _ = Inbox(path, fsync=False).load()
    assert [(t.turn_id, t.attempts) for t in accepted] == [("c", 1), ("d", 0)]
