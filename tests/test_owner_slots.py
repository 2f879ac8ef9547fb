"""The Directory's owner slots: literal inputs, no actor system."""

from __future__ import annotations

from sessionward.actors.messages import AbortTurn, QueryOwnerState, SubmitTurn
from sessionward.actors.owner_slots import (
    RECENT_SUBMITS,
    OwnerSlot,
    SlotState,
    SlotTable,
    remembered,
)


def _slot(path="/s/a.jsonl", **kw) -> OwnerSlot:
    return OwnerSlot(path, "k", "id", ["k"], **kw)


def _submit(n: int) -> SubmitTurn:
    return SubmitTurn(f"r{n}", "k", "direct", "hi")


def test_remembered_keeps_at_most_the_last_n_messages():
    items: list = []
    for n in range(5):
        items = remembered(items, n, float(n), most=3, keep=100.0)
    assert [m for _, m in items] == [2, 3, 4]


def test_remembered_forgets_messages_older_than_keep():
    items = remembered([], "old", 0.0, most=10, keep=5.0)
    items = remembered(items, "new", 10.0, most=10, keep=5.0)
    assert [m for _, m in items] == ["new"]


def test_a_submit_without_an_idempotency_key_is_given_its_request_id():
    slot = _slot()
    sent = slot.remember(_submit(1), 1.0)
    assert sent.idempotency_key == "r1"
    assert slot.recent == [(1.0, sent)] and slot.inflight == []


def test_queries_and_commands_are_remembered_apart_from_submits():
    slot = _slot()
    query = QueryOwnerState("q", "k")
    slot.remember(query, 1.0)
    assert slot.inflight == [(1.0, query)] and slot.recent == []


def test_submits_are_remembered_up_to_the_bound():
    slot = _slot()
    for n in range(RECENT_SUBMITS + 5):
        slot.remember(_submit(n), 1.0)
    assert len(slot.recent) == RECENT_SUBMITS
    assert slot.recent[0][1].request_id == "r5"


def test_an_answer_forgets_what_was_forwarded_before_its_query():
    slot = _slot()
    slot.remember(_submit(1), 1.0)
    slot.remember(AbortTurn("a", "k"), 2.0)
    late = slot.remember(_submit(3), 3.0)
    slot.handled_before(2.0)
    assert slot.recent == [(3.0, late)] and slot.inflight == []


def test_forward_again_leaves_out_what_is_still_held():
    slot = _slot()
    held = slot.remember(_submit(1), 1.0)
    forwarded = slot.remember(_submit(2), 1.0)
    query = slot.remember(QueryOwnerState("q", "k"), 1.0)
    slot.held.append((held, "sender"))
    assert slot.forward_again() == [(forwarded, None), (query, None)]


def test_a_new_key_is_told_only_to_a_live_owner():
    activating = _slot()
    assert activating.add_key("k2") is False and activating.keys == ["k", "k2"]
    live = _slot(state=SlotState.LIVE)
    assert live.add_key("k2") is True
    assert live.add_key("k2") is False  # known already
    assert live.keys == ["k", "k2"]


def test_back_off_forgets_the_lost_owner():
    slot = _slot(address="addr", state=SlotState.LIVE, pid=10, worker_pid=11)
    slot.back_off()
    assert (slot.state, slot.address, slot.pid, slot.worker_pid) == (SlotState.BACKOFF, None, 0, 0)


def test_only_a_live_owner_in_its_own_local_process_may_be_ended():
    assert _slot(state=SlotState.BACKOFF).why_not_ended(1, "local") == "already backoff"
    assert _slot(state=SlotState.ACTIVATING, pid=5).why_not_ended(1, "local") == \
        "not wedged: it is activating, not live"
    assert "shares this process" in _slot(state=SlotState.LIVE, pid=1).why_not_ended(1, "local")
    assert "restart that member" in _slot(state=SlotState.LIVE, pid=5, member="b").why_not_ended(1, "a")
    assert _slot(state=SlotState.LIVE, pid=5, member="a").why_not_ended(1, "a") is None


def test_the_table_answers_only_the_current_owner_of_a_file():
    table = SlotTable()
    slot = _slot(address="owner-2")
    table.add(slot)
    assert table.of("/s/a.jsonl", "owner-2") is slot
    assert table.of("/s/a.jsonl", "owner-1") is None  # a predecessor
    assert table.of_address("owner-2") is slot and table.of_address("x") is None
    assert table.remove("/s/a.jsonl") is slot and len(table) == 0


def test_loads_count_owners_per_member_including_members_without_any():
    table = SlotTable()
    table.add(_slot("/a", member="m1"))
    table.add(_slot("/b", member="m1"))
    table.add(_slot("/c", member="gone"))
    assert table.loads(["m1", "m2"]) == {"m1": 2, "m2": 0, "gone": 1}


def test_local_processes_are_live_owners_with_a_pid_of_their_own_on_this_member():
    table = SlotTable()
    mine = _slot("/a", state=SlotState.LIVE, pid=5)
    table.add(mine)
    table.add(_slot("/b", state=SlotState.ACTIVATING, pid=6))
    table.add(_slot("/c", state=SlotState.LIVE, pid=1))  # shares the Directory's process
    table.add(_slot("/d", state=SlotState.LIVE, pid=7, member="other"))
    assert table.local_processes("local", own_pid=1) == [mine]



def test_an_exit_while_passivating_with_nothing_owed_is_a_passivation_not_a_loss():
    assert _slot(state=SlotState.PASSIVATING).exit_was_passivation(0)


def test_an_exit_that_owes_turns_or_of_a_live_owner_is_a_loss():
    assert not _slot(state=SlotState.PASSIVATING).exit_was_passivation(1)
    for state in (SlotState.LIVE, SlotState.ACTIVATING):
        assert not _slot(state=state).exit_was_passivation(0)


def test_what_went_with_the_activation_is_not_sent_again_once_the_owner_is_live():
    slot = _slot(held=[(_submit(1), None), (_submit(2), None)])
    slot.carried = 1  # the first went with ActivateOwner
    slot.held.append((_submit(3), None))  # held after it was sent
    assert [m.request_id for m, _ in slot.take_held()] == ["r2", "r3"]
    assert slot.held == [] and slot.carried == 0
    slot.held.append((_submit(4), None))
    assert [m.request_id for m, _ in slot.take_held()] == ["r4"]
