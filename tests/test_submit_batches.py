"""Submits queued in a client go to their owner together (issue 17): one ``SubmitTurns``
per owner, taken in order with one inbox fsync and answered with one ``Answers``, and each
turn behaves exactly as if it had been sent alone."""

from __future__ import annotations

import os
import threading

import attrs
import pytest
from conftest import read_entries, transcript_of

from sessionward import ScriptedProvider, TurnStatus
from sessionward.actors.held_answers import HeldAnswers
from sessionward.actors.messages import Answers, SubmitTurn, TurnAccepted
from sessionward.errors import SessionwardError
from sessionward.routes import DirectRoute, Routes
from sessionward.send_plan import MOST_PER_BATCH, DirectBatch, ThroughDirectory, plan

KEY = "agent:main:main"
OTHER = "agent:main:other"
BOUND = "channel:group:one"  # bound to KEY's file in one test


def submit(rid: str, key: str = KEY, text: str = "hi") -> SubmitTurn:
    return SubmitTurn(rid, key, "direct", text)


def copy(msg, route):
    return attrs.evolve(msg, route=route.path)


def user_texts(rt, key: str = KEY) -> list[str]:
    return [e["message"]["content"][0]["text"] if isinstance(e["message"]["content"], list) else e["message"]["content"]
            for e in read_entries(transcript_of(rt, key))
            if e.get("type") == "message" and e["message"].get("role") == "user"]


# -- the plan: pure ---------------------------------------------------------------------------


def known(*pairs: tuple[str, str]) -> Routes:
    routes = Routes()
    for key, path in pairs:
        routes.learn(key, DirectRoute(f"owner of {path}", path, 1))
    return routes


def test_queued_submits_to_one_owner_become_one_batch_in_submit_order():
    routes = known((KEY, "/s/a"), (OTHER, "/s/b"))
    steps = plan(routes, [submit("r1"), submit("r2", OTHER), submit("r3"), submit("r4")], 0.0, copy)
    assert [(type(s).__name__, [m.request_id for m in s.submits]) for s in steps] == [
        ("DirectBatch", ["r1", "r3", "r4"]), ("DirectBatch", ["r2"])]
    assert all(m.route == s.route.path for s in steps for m in s.submits), "each submit names its route"
    assert routes.waiting == 4, "every direct submit is noted as awaiting its acknowledgement"


def test_a_submit_through_the_directory_closes_the_batches_before_it_so_nothing_overtakes_it():
    # BOUND has no route yet: it goes through the Directory, and its file is not known, so
    # what comes after it may not go directly before it is answered (``Routes.direct_allowed``).
    routes = known((KEY, "/s/a"))
    steps = plan(routes, [submit("r1"), submit("r2", BOUND), submit("r3")], 0.0, copy)
    assert [type(s).__name__ for s in steps] == ["DirectBatch", "ThroughDirectory", "ThroughDirectory"]
    assert isinstance(steps[1], ThroughDirectory) and steps[1].submit.route is None
    routes.answered("r2")
    routes.answered("r3")
    steps = plan(routes, [submit("r4"), submit("r5", BOUND), submit("r6")], 1.0, copy)
    assert [type(s).__name__ for s in steps] == ["DirectBatch", "ThroughDirectory", "ThroughDirectory"]


def test_submits_to_send_again_go_first_and_through_the_directory_holding_back_direct_ones_to_their_file():
    # r1 was sent directly on a stale route and refused: r2, queued meanwhile, must not
    # reach the Directory (or the file's next owner) before it. r3, to another file, need
    # not wait (r2's file is known from its route).
    routes = known((KEY, "/s/a"), (OTHER, "/s/b"))
    refused = attrs.evolve(submit("r1"), route=attrs.evolve(routes.get(KEY), address=None))
    routes.forget(KEY)
    routes.learn(KEY, DirectRoute("the next owner", "/s/a", 2))
    steps = plan(routes, [submit("r2"), submit("r3", OTHER)], 0.0, copy, again=[refused])
    assert [type(s).__name__ for s in steps] == ["ThroughDirectory", "ThroughDirectory", "DirectBatch"]
    assert [s.submit.request_id for s in steps[:2]] == ["r1", "r2"] and steps[2].submits[0].request_id == "r3"


def test_a_batch_holds_at_most_its_limit_and_the_rest_starts_the_next():
    routes = known((KEY, "/s/a"))
    steps = plan(routes, [submit(f"r{i}") for i in range(MOST_PER_BATCH + 3)], 0.0, copy)
    assert [len(s.submits) for s in steps] == [MOST_PER_BATCH, 3]
    assert all(isinstance(s, DirectBatch) for s in steps)


def test_answers_are_grouped_by_submitter_in_the_order_given():
    class Address:  # like Thespian's ActorAddress: compared with ==, not hashable
        __hash__ = None

        def __init__(self, name):
            self.name = name

        def __eq__(self, other):
            return isinstance(other, Address) and other.name == self.name

    a, b = Address("a"), Address("b")
    batch = HeldAnswers()  # what an owner taking a batch holds its answers in
    for to, answer in [(a, 1), (b, 2), (Address("a"), 3), (b, 4)]:
        batch.hold(to, answer)
    grouped = batch.all()
    assert grouped == [(a, (1, 3)), (b, (2, 4))]


# -- through an actor system --------------------------------------------------------------------


class HeldSender:
    """Holds the client's sender thread inside its next direct send until ``release``: the
    submits made meanwhile queue up, and its next send carries them together. Records the
    messages sent directly to owners."""

    def __init__(self, rt, monkeypatch) -> None:
        self.sent: list[object] = []
        self.entered, self.gate = threading.Event(), threading.Event()
        original = rt._mailbox._direct

        def direct(owner, msg):
            self.sent.append(msg)
            if not self.entered.is_set():
                self.entered.set()
                assert self.gate.wait(30), "the test never released the sender"
            return original(owner, msg)

        monkeypatch.setattr(rt._mailbox, "_direct", direct)

    def release(self) -> None:
        self.gate.set()

    def submit_behind_one(self, rt, texts: list[str]) -> list:
        """Submit ``texts[0]``, wait until the sender holds it, submit the rest (queued behind
        it, so they go together), and release the sender."""
        handles = [rt.submit(KEY, texts[0])]
        assert self.entered.wait(30)
        handles += [rt.submit(KEY, text) for text in texts[1:]]
        self.release()
        return handles


@pytest.mark.parametrize("base", ["simple", "tcp"])
def test_submits_queued_while_a_send_is_under_way_go_as_one_message_and_run_in_submit_order(
        make_runtime, monkeypatch, base):
    rt = make_runtime(base=base, provider=ScriptedProvider(reply="ok"))
    assert rt.submit(KEY, "first").result(timeout=30).status is TurnStatus.COMPLETED  # the route is learned
    received = []
    original = rt._mailbox._dispatch
    monkeypatch.setattr(rt._mailbox, "_dispatch", lambda msg: (received.append(msg), original(msg)))
    held = HeldSender(rt, monkeypatch)
    handles = held.submit_behind_one(rt, [f"t{i}" for i in range(6)])
    assert [h.result(timeout=30).status for h in handles] == [TurnStatus.COMPLETED] * 6
    batched = [h.request_id for h in handles[1:]]
    acceptances = [m for m in received if isinstance(m, Answers)
                   and [a.request_id for a in m.answers if isinstance(a, TurnAccepted)] == batched]
    assert acceptances, "the batch's five acceptances came back as one Answers"
    assert [type(m).__name__ for m in held.sent] == ["SubmitTurn", "SubmitTurns"]
    assert [s.text for s in held.sent[1].submits] == ["t1", "t2", "t3", "t4", "t5"]
    assert user_texts(rt) == ["first", "t0", "t1", "t2", "t3", "t4", "t5"]
    assert all(h.decision == "queued" and h.turn_id for h in handles), "each was acknowledged as if alone"
    assert rt.session(KEY).turns_completed == 7


def test_a_batch_is_made_durable_with_one_inbox_fsync_before_it_is_acknowledged(make_runtime, monkeypatch):
    # simpleSystemBase: the owner runs in this process, so its fsyncs can be counted here.
    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    held = HeldSender(rt, monkeypatch)
    handles = [rt.submit(KEY, "t0")]
    assert held.entered.wait(30)
    handles += [rt.submit(KEY, f"t{i}") for i in range(1, 5)]
    monkeypatch.setattr(os, "fsync", fsync)
    held.release()
    for h in handles:
        h.result(timeout=30)
    inbox = [path for path in synced if path.endswith(".inbox")]
    assert len(inbox) == 2, f"one for t0 alone, one for the batch of four: {inbox}"


def test_a_batched_submit_that_fails_gets_an_internal_error_and_the_others_run(make_runtime, monkeypatch):
    import sessionward.actors.owner as owner_module

    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    real_intake = owner_module.intake

    def intake(msg, *args, **kwargs):
        if msg.text == "boom":
            raise RuntimeError("a bug met while taking this submit")
        return real_intake(msg, *args, **kwargs)

    monkeypatch.setattr(owner_module, "intake", intake)
    held = HeldSender(rt, monkeypatch)
    first, before, boom, after = held.submit_behind_one(rt, ["t0", "t1", "boom", "t2"])
    assert [h.result(timeout=30).status for h in (first, before, after)] == [TurnStatus.COMPLETED] * 3
    with pytest.raises(SessionwardError, match="a bug met"):
        boom.result(timeout=30)
    assert type(held.sent[1]).__name__ == "SubmitTurns"
    assert user_texts(rt) == ["first", "t0", "t1", "t2"]


def test_a_batch_sent_on_a_stale_route_is_refused_and_each_turn_runs_once_through_the_directory(
        make_runtime, monkeypatch):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    good = rt._mailbox.route(KEY)
    with rt._mailbox._lock:  # an earlier activation's route: the owner refuses it
        rt._mailbox._routes.learn(KEY, attrs.evolve(good, epoch=good.epoch - 1))
    held = HeldSender(rt, monkeypatch)
    handles = held.submit_behind_one(rt, [f"t{i}" for i in range(4)])
    assert [h.result(timeout=30).status for h in handles] == [TurnStatus.COMPLETED] * 4
    assert user_texts(rt) == ["first", "t0", "t1", "t2", "t3"]
    assert rt.session(KEY).turns_completed == 5
    assert rt._mailbox.route(KEY) == good


@pytest.mark.parametrize("base", ["simple", "tcp"])
def test_a_query_made_after_submits_sees_every_one_of_them(make_runtime, base):
    # The first turn hangs, so the others wait in the queue where the query sees them.
    rt = make_runtime(base=base, provider=ScriptedProvider(reply="ok", hang_after=0))
    first = rt.submit(KEY, "t0")
    assert first.wait_accepted(30)
    for i in range(1, 6):
        rt.submit(KEY, f"t{i}")
    state = rt.session(KEY, history=False)
    assert len(state.queued_turns) == 5


def test_a_submit_whose_sending_fails_before_it_is_sent_gets_a_typed_error_and_the_next_ones_go(
        make_runtime, monkeypatch):
    import sessionward.send_plan as send_plan_module

    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.submit(KEY, "first").result(timeout=30)
    real_plan, failed = send_plan_module.plan, []

    def plan(routes, submits, *args, **kwargs):
        if any(s.text == "boom" for s in submits) and not failed:
            failed.append(True)
            raise RuntimeError("a bug met while planning the sends")
        return real_plan(routes, submits, *args, **kwargs)

    monkeypatch.setattr(send_plan_module, "plan", plan)
    with pytest.raises(SessionwardError, match="could not be sent: RuntimeError: a bug met"):
        rt.submit(KEY, "boom").result(timeout=30)
    assert rt.submit(KEY, "after").result(timeout=30).status is TurnStatus.COMPLETED
    assert user_texts(rt) == ["first", "after"]
