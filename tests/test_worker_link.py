"""An owner and its worker send a turn's data path over a socket pair, not as Thespian
messages (issue 17): frames arrive whole and in order, a write the socket does not take is
kept for the next flush, a broken or closed link is a typed ``LinkBroken`` after what was
sent before it, and a worker whose link ends exits."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import time

import pytest
from conftest import wait_for
from thespian.actors import ActorTypeDispatcher, ThespianWatch

from sessionward import RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.actors.messages import RunTurn, StartWorker, StreamBatch, WorkerLink, WorkerReady
from sessionward.actors.worker import TurnWorker
from sessionward.actors.worker_link import (
    HEADER,
    MOST_FRAME_BYTES,
    LinkBroken,
    LinkEnd,
    adopt,
    close_inherited,
    inode,
    link_pair,
)
from sessionward.hosting.system import children
from sessionward.providers.base import ProviderRequest


@pytest.fixture
def pair():
    mine, theirs = link_pair()
    other = LinkEnd(theirs)
    yield mine, other
    mine.close()
    other.close()


def _receive_all(end: LinkEnd, count: int) -> list:
    got: list = []
    for _ in range(10_000):
        got += end.receive()
        if len(got) >= count:
            return got
    raise AssertionError(f"only {len(got)} of {count} messages arrived")


# -- the link alone (a socket pair in this process) -----------------------------------------------


def test_messages_sent_on_one_end_arrive_whole_and_in_order_on_the_other(pair):
    mine, other = pair
    sent = [StreamBatch("t1", ("a",) * i, i == 4) for i in range(5)]
    for message in sent:
        assert mine.send(message)
    assert _receive_all(other, 5) == sent


def test_nothing_has_arrived_is_an_empty_list_not_an_error(pair):
    _mine, other = pair
    assert other.receive() == []


def test_a_message_larger_than_the_socket_takes_at_once_is_kept_and_written_by_later_flushes(pair):
    mine, other = pair
    big = RunTurn("t1", "x" * (8 * 1024 * 1024))
    assert not mine.send(big), "8 MiB does not fit the socket's buffers at once"
    assert mine.pending
    got: list = []
    while not got:
        got += other.receive()  # the reader makes room ...
        mine.flush()  # ... and the kept bytes go on
    assert got == [big]
    assert not mine.pending


def test_messages_sent_before_the_other_end_closed_are_read_first_then_the_link_is_broken(pair):
    mine, other = pair
    mine.send(StreamBatch("t1", ("last",), True))
    mine.close()
    assert other.receive() == [StreamBatch("t1", ("last",), True)]
    with pytest.raises(LinkBroken, match="closed"):
        other.receive()
    assert other.closed


def test_sending_to_an_end_whose_peer_closed_is_a_typed_error(pair):
    mine, other = pair
    other.close()
    with pytest.raises(LinkBroken):
        for _ in range(100):  # the first write may still land in the buffer
            mine.send(StreamBatch("t1", (), False))
    with pytest.raises(LinkBroken, match="closed"):
        mine.send(StreamBatch("t1", (), False))


def test_a_frame_longer_than_any_this_link_sends_breaks_it_without_reading_that_much():
    a, b = socket.socketpair()
    end = LinkEnd(b)
    a.sendall(HEADER.pack(MOST_FRAME_BYTES + 1))
    with pytest.raises(LinkBroken, match="not one this link sends"):
        end.receive()
    assert end.closed
    a.close()


def test_a_frame_that_does_not_unpickle_breaks_the_link_with_a_typed_error():
    a, b = socket.socketpair()
    end = LinkEnd(b)
    a.sendall(HEADER.pack(5) + b"junk!")
    with pytest.raises(LinkBroken, match="could not be read"):
        end.receive()
    a.close()


def test_a_frame_split_across_reads_is_returned_once_it_is_whole():
    a, b = socket.socketpair()
    end = LinkEnd(b)
    body = pickle.dumps(StreamBatch("t1", ("x",), True))
    frame = HEADER.pack(len(body)) + body
    a.sendall(frame[:3])
    assert end.receive() == []
    a.sendall(frame[3:10])
    assert end.receive() == []
    a.sendall(frame[10:])
    assert end.receive() == [StreamBatch("t1", ("x",), True)]
    a.close()
    end.close()


def test_a_worker_adopts_its_end_only_if_the_descriptor_still_names_that_socket(tmp_path):
    mine, theirs = link_pair()
    fd, their_inode = theirs.fileno(), inode(theirs.fileno())
    assert adopt(fd, their_inode + 1) is None, "another inode: not the link"
    other = adopt(fd, their_inode)
    assert other is not None
    mine.send(StreamBatch("t1", (), True))
    assert _receive_all(other, 1) == [StreamBatch("t1", (), True)]
    mine.close()
    other.close()


def test_closing_an_inherited_copy_leaves_a_descriptor_that_names_something_else_alone(tmp_path):
    mine, theirs = link_pair()
    their_inode = inode(theirs.fileno())
    theirs.close()
    with open(tmp_path / "f", "w") as f:  # likely reuses the freed number
        close_inherited(f.fileno(), their_inode)
        f.write("still open")  # raises if close_inherited had closed it
    mine.close()


# -- a TurnWorker driven over its link (multiprocTCPBase) ---------------------------------------


class _Drive:
    def __init__(self, out: str) -> None:
        self.out = out


class _OwnerOverLink(ActorTypeDispatcher):
    """Does what a SessionOwner does with its worker: fork it with a link, send it one turn
    over the link, read the batches, then close the link and see the worker exit."""

    def receiveMsg__Drive(self, msg, sender):
        self.out, self.seen = msg.out, {"link": [], "thespian": [], "ready": False, "exited": False}
        self.link, theirs = link_pair()
        self.worker = self.createActor(TurnWorker)
        fds = WorkerLink(theirs.fileno(), inode(theirs.fileno()), self.link.fileno(), inode(self.link.fileno()))
        theirs.close()
        self.send(self.worker, StartWorker(ScriptedProvider(reply="hi {text}"), 0.02, 256, (), os.getpid(), fds))
        # Sent before the worker has read StartWorker: it waits in the socket until then.
        self.link.send(RunTurn("t1", ProviderRequest("agent:main:main", "t1", "there")))
        return ThespianWatch([self.link.fileno()])

    def receiveMsg_WatchMessage(self, msg, sender):
        for batch in self.link.receive():
            self.seen["link"].append([batch.turn_id, list(batch.events), batch.done])
            if batch.done:
                self.link.close()  # the worker's end of file: it exits
                return None
        return ThespianWatch([self.link.fileno()])

    def receiveMsg_StreamBatch(self, msg, sender):
        self.seen["thespian"].append(msg.turn_id)

    def receiveMsg_WorkerReady(self, msg: WorkerReady, sender):
        self.seen["ready"] = msg.pid
        return ThespianWatch([self.link.fileno()]) if not self.link.closed else None

    def receiveMsg_ChildActorExited(self, msg, sender):
        self.seen["exited"] = True
        with open(self.out, "w") as f:
            json.dump(self.seen, f, default=str)


def test_a_worker_streams_its_turn_over_the_link_and_exits_when_the_link_ends(tmp_path, tcp_system):
    out = tmp_path / "seen.json"
    tcp_system.tell(tcp_system.createActor(_OwnerOverLink), _Drive(str(out)))
    wait_for(out.exists, 30, "the worker to exit once its link closed")
    seen = json.loads(out.read_text())
    assert seen["ready"], "the worker was configured through Thespian"
    assert seen["thespian"] == [], "no StreamBatch came as a Thespian message"
    assert seen["link"][-1][2] is True and all(turn == "t1" for turn, _, _ in seen["link"])
    text = "".join(str(e) for _, events, _ in seen["link"] for e in events)
    assert "hi there" in text
    assert seen["exited"]


# -- through a runtime ----------------------------------------------------------------------------


@pytest.mark.worker_processes
def test_a_worker_mode_session_runs_many_turns_over_its_link_and_its_worker_is_one_child(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="re {text}"),
                      config=RuntimeConfig(stream_in="worker"))
    handles = [rt.submit("agent:main:main", f"m{i}") for i in range(30)]
    outcomes = [h.result(timeout=60) for h in handles]
    assert [(o.status, o.reply) for o in outcomes] == [(TurnStatus.COMPLETED, f"re m{i}") for i in range(30)]
    owner = rt.session("agent:main:main").pid
    wait_for(lambda: len(children(owner)) == 1, 30, "the owner's one worker")


class _SlowProvider(ScriptedProvider):
    """Streams ``hang`` until cancelled (at most 30 s); anything else at once."""

    def stream(self, request, control):
        deadline = time.monotonic() + 30
        while request.text == "hang" and not control.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        yield from super().stream(request, control)


@pytest.mark.worker_processes
def test_a_worker_killed_under_its_turn_fails_that_turn_and_the_next_runs_on_a_new_worker(make_runtime):
    rt = make_runtime(base="tcp", provider=_SlowProvider(reply="re {text}"), config=RuntimeConfig(stream_in="worker"))
    assert rt.submit("agent:main:main", "warm").result(timeout=30).status is TurnStatus.COMPLETED
    owner = rt.session("agent:main:main").pid
    hung = rt.submit("agent:main:main", "hang")
    assert hung.wait_accepted(30)
    wait_for(lambda: rt.session("agent:main:main").turn_id == hung.turn_id, 30, "the hung turn running")
    (worker,) = children(owner)
    os.kill(worker, signal.SIGKILL)
    outcome = hung.result(timeout=30)
    assert (outcome.status, outcome.detail) == (TurnStatus.FAILED, "the turn worker exited")
    after = rt.submit("agent:main:main", "after").result(timeout=30)
    assert (after.status, after.reply) == (TurnStatus.COMPLETED, "re after")
    assert children(owner) and worker not in children(owner), "a new worker ran the next turn"
