"""Direct routing (issue 17 item 1): after first contact the client sends a session's turns
and queries to its owner, and a stale route (the owner passivated, replaced, parked, or
the route names another activation or another session) never runs a turn there: the turn
goes through the Directory and runs exactly once."""

from __future__ import annotations

import os
import signal

import attrs
import pytest
from conftest import read_entries, silence_for_a_minute, stopped, streams_started, transcript_of, wait_for

from sessionward import OutcomeReason, ProviderSpec, RecoveryConfig, RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.actors.messages import OwnerPhase, Route, SubmitTurn
from sessionward.actors.owner_state import refuses_direct
from sessionward.errors import SessionwardTimeoutError
from sessionward.hosting.system import alive
from sessionward.routes import DirectRoute, DirectSend, Routes, direct_send_state, replaces_context

FAST = {"recovery_tick": 0.2, "stall_after": 0.4, "abort_after": 1.0}
KEY = "agent:main:main"
OTHER = "agent:main:other"


def user_texts(rt, key: str = KEY) -> list[str]:
    return [e["message"]["content"][0]["text"] if isinstance(e["message"]["content"], list) else e["message"]["content"]
            for e in read_entries(transcript_of(rt, key))
            if e.get("type") == "message" and e["message"].get("role") == "user"]


def directory_sends(rt, monkeypatch) -> list[str]:
    """Record the type of every message the client sends to the Directory from now on."""
    sent: list[str] = []
    original = rt._mailbox._tell_now

    def tell(target, msg):
        sent.append(type(msg).__name__)
        original(target, msg)

    monkeypatch.setattr(rt._mailbox, "_tell_now", tell)
    return sent


# -- the pure parts ---------------------------------------------------------------------------


def test_a_direct_message_is_refused_unless_it_names_this_owners_file_epoch_and_a_key_of_it():
    def msg(path="/s/a.jsonl", epoch=3, key=KEY):
        return SubmitTurn("r1", key, "direct", "hi", route=Route(path, epoch))

    def refused(message, phase=OwnerPhase.IDLE):
        return refuses_direct(phase, "/s/a.jsonl", 3, (KEY,), message)

    assert not refused(msg())
    assert not refused(msg(), OwnerPhase.RUNNING)
    assert refused(msg(epoch=2)) and refused(msg(path="/s/b.jsonl")) and refused(msg(key=OTHER))
    assert refused(msg(), OwnerPhase.STOPPING) and refused(msg(), OwnerPhase.FENCED)
    assert refused(msg(), OwnerPhase.STARTING)
    assert not refused(attrs.evolve(msg(epoch=2), route=None))  # through the Directory: not checked here


def test_routes_give_back_unacknowledged_direct_submits_when_refused_moved_or_late():
    routes = Routes(resend_after=5.0)
    a, b = SubmitTurn("r1", KEY, "direct", "one"), SubmitTurn("r2", OTHER, "direct", "two")
    routes.learn(KEY, DirectRoute("addr-a", "/s/a", 1))
    routes.learn(OTHER, DirectRoute("addr-b", "/s/b", 1))
    routes.sent("r1", a, "/s/a", now=10.0)
    routes.sent("r2", b, "/s/b", now=10.0)
    assert routes.refused("unknown") is None
    assert routes.moved("/s/a") == [a] and routes.get(KEY) is None and routes.get(OTHER) is not None
    assert routes.moved("/s/a") == []  # given back once
    assert routes.due(14.9) == [] and routes.due(15.0) == [b]
    assert routes.get(OTHER) is not None, "late is no evidence the owner is gone: the next direct send finds out"
    routes.sent("r3", a, "/s/a", now=20.0)
    routes.answered("r3")
    assert routes.refused("r3") is None and routes.waiting == 0


def test_a_direct_submit_is_late_only_after_resend_after_in_which_nothing_came_from_its_owner():
    # A saturated owner takes seconds to acknowledge, but its other turns' outcomes keep
    # coming: its submits are not sent again, and its route is kept.
    routes = Routes(resend_after=2.0)
    a = SubmitTurn("r1", KEY, "direct", "one")
    routes.learn(KEY, DirectRoute("addr-a", "/s/a", 1))
    routes.sent("r1", a, "/s/a", now=10.0)
    routes.heard_from("/s/a", now=11.5)
    assert routes.due(12.5) == [] and routes.get(KEY) is not None
    routes.heard_from("/s/b", now=13.0)  # another owner's news says nothing of this one
    assert routes.due(13.4) == [] and routes.due(13.5) == [a]


def test_a_direct_send_waits_only_until_delivered_failed_or_out_of_time_and_only_a_stall_replaces_the_context():
    assert direct_send_state(delivered=False, failed=False, remaining=0.3) is None
    assert direct_send_state(delivered=True, failed=False, remaining=0.3) is DirectSend.DELIVERED
    assert direct_send_state(delivered=True, failed=False, remaining=-1) is DirectSend.DELIVERED
    assert direct_send_state(delivered=False, failed=True, remaining=0.3) is DirectSend.FAILED
    assert direct_send_state(delivered=False, failed=False, remaining=0.0) is DirectSend.STALLED
    assert [replaces_context(s) for s in DirectSend] == [False, False, True]


def test_a_direct_submit_not_delivered_goes_through_the_directory_once_and_its_route_is_forgotten():
    routes = Routes()
    a, b = SubmitTurn("r1", KEY, "direct", "one"), SubmitTurn("r2", OTHER, "direct", "two")
    routes.learn(KEY, DirectRoute("addr-a", "/s/a", 1))
    routes.learn(OTHER, DirectRoute("addr-b", "/s/b", 1))
    routes.sent("r1", a, "/s/a", now=0.0)
    routes.sent("r2", b, "/s/b", now=0.0)
    assert routes.send_ended("r2", DirectSend.DELIVERED) is None and routes.get(OTHER) is not None
    assert routes.waiting == 2  # delivered is not acknowledged: still resent if never answered
    assert routes.send_ended("r1", DirectSend.STALLED) == a and routes.get(KEY) is None
    assert routes.send_ended("r1", DirectSend.STALLED) is None  # given back once
    routes.sent("r3", a, "/s/a", now=0.0)
    routes.answered("r3")  # the mailbox thread got the answer before the send returned
    assert routes.send_ended("r3", DirectSend.FAILED) is None


def test_a_submit_through_the_directory_holds_direct_sends_to_its_file_back_until_answered_or_hold_after():
    routes = Routes(hold_after=2.0)
    assert routes.direct_allowed("/s/a", now=0.0)
    routes.via_directory("r1", now=0.0)  # a first contact: its file is not known
    assert not routes.direct_allowed("/s/a", now=0.5), "a direct send now could overtake r1"
    assert not routes.direct_allowed("/s/b", now=0.5)
    routes.answered("r1")
    assert routes.direct_allowed("/s/a", now=0.5)
    routes.via_directory("r2", now=1.0, path="/s/a")  # a copy of a direct submit to /s/a
    assert not routes.direct_allowed("/s/a", now=1.5) and routes.direct_allowed("/s/b", now=1.5)
    assert not routes.direct_allowed("/s/a", now=2.9) and routes.direct_allowed("/s/a", now=3.0), \
        "bounded by hold_after"


def test_routes_keep_a_bounded_number_dropping_the_oldest():
    routes = Routes(most=2)
    for i in range(3):
        routes.learn(f"k{i}", DirectRoute(i, f"/s/{i}", 1))
    assert routes.get("k0") is None and routes.get("k2") is not None


# -- through a real actor system ----------------------------------------------------------------


def test_after_first_contact_turns_and_queries_go_to_the_owner_not_the_directory(make_runtime, monkeypatch):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    assert rt.submit(KEY, "first").result(timeout=30).status is TurnStatus.COMPLETED
    route = rt._mailbox.route(KEY)
    assert route is not None and route.epoch == rt.session(KEY).owner_epoch
    sent = directory_sends(rt, monkeypatch)
    assert rt.submit(KEY, "second").result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.session(KEY).turns_completed == 2
    assert sent == []
    assert rt.submit(OTHER, "first contact").result(timeout=30).status is TurnStatus.COMPLETED
    assert sent == ["SubmitTurn"]


def test_a_submit_made_while_an_earlier_one_is_unanswered_through_the_directory_follows_it_there(
        make_runtime, monkeypatch, tmp_path):
    # Through the Directory the earlier one is a hop behind: sent directly, the later one
    # could reach the owner first when both keys lead to one file (seen in CI).
    gate, entered = tmp_path / "gate", tmp_path / "entered"
    spec = ProviderSpec("conftest:gated_provider", {"gate": str(gate), "entered": str(entered), "reply": "ok"})
    rt = make_runtime(base="tcp", provider=spec)
    assert rt.submit(KEY, "first").result(timeout=30).status is TurnStatus.COMPLETED
    assert rt._mailbox.route(KEY) is not None
    sent = directory_sends(rt, monkeypatch)
    gate.touch()  # OTHER's owner now waits in its activation: its submit stays unanswered
    held = rt.submit(OTHER, "first contact")
    wait_for(entered.exists, 30, "OTHER's owner to wait in its activation")
    assert rt.submit(KEY, "second").result(timeout=30).status is TurnStatus.COMPLETED
    assert sent == ["SubmitTurn", "SubmitTurn"], "the second went directly while the first was unanswered"
    gate.unlink()
    assert held.result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.submit(KEY, "third").result(timeout=30).status is TurnStatus.COMPLETED
    assert sent == ["SubmitTurn", "SubmitTurn"], "once answered, direct sends resume"


@pytest.mark.parametrize("stale", ["epoch", "session"])
def test_a_route_naming_another_activation_or_session_is_refused_and_the_turn_runs_once(make_runtime,
                                                                                        monkeypatch, stale):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    rt.submit(OTHER, "first").result(timeout=30)
    good = rt._mailbox.route(KEY)
    wrong = (attrs.evolve(good, epoch=good.epoch - 1) if stale == "epoch"
             else rt._mailbox.route(OTHER))  # the other session's owner, its real file and epoch
    with rt._mailbox._lock:
        rt._mailbox._routes.learn(KEY, wrong)
    sent = directory_sends(rt, monkeypatch)
    assert rt.submit(KEY, "after").result(timeout=30).status is TurnStatus.COMPLETED
    assert sent == ["SubmitTurn"]  # refused with not_owner, then sent through the Directory
    assert user_texts(rt, KEY) == ["first", "after"]
    assert user_texts(rt, OTHER) == ["first"]
    assert rt._mailbox.route(KEY) == good  # learned again from the right owner
    assert rt.session(KEY).turns_completed == 2


def test_a_passivated_owner_is_forgotten_and_a_stale_address_falls_back_to_the_directory(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"), config=RuntimeConfig(idle_timeout=0.3))
    rt.submit(KEY, "first").result(timeout=30)
    old = rt._mailbox.route(KEY)
    # The Directory tells its clients when an owner passivates: the route is dropped.
    wait_for(lambda: rt._mailbox.route(KEY) is None, 30, "the client to hear that the owner passivated")
    wait_for(lambda: rt.session(KEY, history=False).state == "passive", 30, "the owner to passivate")
    assert rt.submit(KEY, "second").result(timeout=30).status is TurnStatus.COMPLETED
    # A client that missed the notice still sends to the old address: nothing is lost.
    wait_for(lambda: rt.session(KEY, history=False).state == "passive", 30, "the owner to passivate again")
    with rt._mailbox._lock:
        rt._mailbox._routes.learn(KEY, old)
    assert rt.submit(KEY, "third").result(timeout=30).status is TurnStatus.COMPLETED
    assert user_texts(rt) == ["first", "second", "third"]
    assert rt._mailbox.route(KEY).epoch == old.epoch + 2


def test_a_replaced_owner_is_not_sent_to_and_the_turn_runs_once_on_its_successor(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    old = rt._mailbox.route(KEY)
    state = rt.session(KEY)
    os.kill(state.pid, signal.SIGKILL)
    wait_for(lambda: rt.session(KEY, history=False).pid not in (state.pid, 0), 30, "a successor owner")
    with rt._mailbox._lock:  # as if the notice of the loss had not arrived yet
        rt._mailbox._routes.learn(KEY, old)
    assert rt.submit(KEY, "second").result(timeout=30).status is TurnStatus.COMPLETED
    assert user_texts(rt) == ["first", "second"]
    assert rt._mailbox.route(KEY).epoch == old.epoch + 1


def test_a_direct_submit_to_a_parked_sessions_dead_owner_gets_the_parked_outcome_and_never_runs(make_runtime):
    config = RuntimeConfig(recovery=RecoveryConfig(park_after=1, replace_backoff=0.1))
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"), config=config)
    rt.submit(KEY, "first").result(timeout=30)
    old = rt._mailbox.route(KEY)
    for _ in range(3):  # lose owners until the replacement policy parks the session
        pid = rt.session(KEY, history=False).pid
        if not pid:
            break
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: not alive(pid), 30, "the owner to die")
        wait_for(lambda pid=pid: rt.status().parked or rt.session(KEY, history=False).pid not in (pid, 0), 30,
                 "a successor or parking")
    assert [p.session_key for p in rt.status().parked] == [KEY]
    with rt._mailbox._lock:
        rt._mailbox._routes.learn(KEY, old)
    outcome = rt.submit(KEY, "after").result(timeout=30)
    assert (outcome.status, outcome.reason) == (TurnStatus.FAILED, OutcomeReason.PARKED)
    assert rt.unpark(KEY).ok
    assert user_texts(rt) == ["first"]


@pytest.mark.parametrize("then", ["resumed", "replaced"])
def test_a_direct_submit_to_a_stopped_owner_returns_goes_through_the_directory_and_runs_once(
    make_runtime, monkeypatch, shared_clock, count_file, then
):
    """Thespian's own ``tell`` would hold ``submit`` 60 s here, and the Directory send after it
    another 60 s on the same context (its stuck transmit stays queued): past the pytest timeout.
    Everything below up to ``resume()`` happens while the owner's process is stopped."""
    provider = ScriptedProvider(reply="ok", count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, recovery=then == "replaced", **FAST)
    rt.submit(KEY, "first").result(timeout=30)
    rt.submit(OTHER, "first").result(timeout=30)
    wedged = rt.session(KEY).pid
    assert rt._mailbox.route(KEY) is not None and rt.session(OTHER).pid != wedged
    sent = directory_sends(rt, monkeypatch)
    order = []
    resume = stopped(wedged)
    try:
        late = rt.submit(KEY, "sent while it is stopped")
        assert rt._mailbox.flush()  # the sender thread has sent it (or sent it again)
        order.append("submit returned")
        assert sent == ["SubmitTurn"] and rt._mailbox.route(KEY) is None
        # Later sends from this thread, direct to another session's owner, are not held.
        assert rt.submit(OTHER, "second").result(timeout=30).status is TurnStatus.COMPLETED
        assert sent == ["SubmitTurn"]
        order.append("another session's turn completed")
        if then == "replaced":
            silence_for_a_minute(rt, shared_clock)
            wait_for(lambda: not alive(wedged), 30, "the wedged owner to be ended")
        order.append(f"owner {then}")
    finally:
        resume()
    assert order == ["submit returned", "another session's turn completed", f"owner {then}"]
    assert late.result(timeout=30).status is TurnStatus.COMPLETED
    assert user_texts(rt, KEY) == ["first", "sent while it is stopped"]
    assert user_texts(rt, OTHER) == ["first", "second"]
    assert streams_started(count_file).count(late.turn_id) == 1
    assert (rt.session(KEY).pid == wedged) is (then == "resumed")


def test_a_query_on_a_route_to_a_stopped_owner_returns_and_does_not_hold_later_sends(make_runtime, monkeypatch):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    rt.submit(OTHER, "first").result(timeout=30)
    wedged = rt.session(KEY).pid
    sent = directory_sends(rt, monkeypatch)
    resume = stopped(wedged)
    try:
        with pytest.raises(SessionwardTimeoutError):  # through the Directory, to the same stopped owner
            rt.session(KEY, history=False, timeout=3)
        assert rt._mailbox.route(KEY) is None
        assert rt.submit(OTHER, "second").result(timeout=30).status is TurnStatus.COMPLETED
        assert sent == []  # direct, from the thread whose send to the stopped owner stalled
    finally:
        resume()
    assert rt.session(KEY, history=False).pid == wedged
