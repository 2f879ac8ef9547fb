"""The worker's link server (``actors/link_server.py``), and the streams it runs
(``actors/worker_streams.py``), serve the data path in a thread of its own: a turn's
batches come back over the link, a stop, ping or steer reaches the running stream while it
waits, a stale turn id is ignored, and whatever the actor must do (log a line, exit once
the link ended) reaches it as a notice, never as a Thespian call from that thread. Driven
here over a socket pair in this process, no actor system."""

from __future__ import annotations

import os
import select
import threading
import time

import pytest

from sessionward import ScriptedProvider
from sessionward.actors.link_server import LinkEnded, LinkServer, LogLine
from sessionward.actors.messages import PingStream, RunTurn, SteerStream, StopStream, StreamBatch
from sessionward.actors.worker_link import LinkBroken, LinkEnd, link_pair
from sessionward.actors.worker_streams import WorkerStreams
from sessionward.providers.base import ProviderRequest


class _Held(ScriptedProvider):
    """Streams "held" until cancelled, counting pings and keeping steered text; anything
    else at once. ``started`` is set once a held stream runs."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.started = threading.Event()
        self.control = None
        self.steered: list[str] = []
        self.cancelled = threading.Event()

    def stream(self, request, control):
        if request.text == "held":
            self.control = control
            self.started.set()
            deadline = time.monotonic() + 30
            while not control.cancelled and time.monotonic() < deadline:
                self.steered += control.take_steering()
                time.sleep(0.002)
            if control.cancelled:
                self.cancelled.set()
            return
        yield from super().stream(request, control)


def _request(text: str, turn: str = "t1") -> ProviderRequest:
    return ProviderRequest("agent:main:main", turn, text)


@pytest.fixture
def served():
    """A server on one end of a link, the test on the other (as the owner)."""
    made: list[tuple[LinkServer, LinkEnd]] = []

    def make(provider) -> tuple[LinkServer, LinkEnd]:
        mine, theirs = link_pair()
        server = LinkServer(LinkEnd(theirs), provider, 0.02, 256, os.getppid())
        server.start()
        made.append((server, mine))
        return server, mine

    yield make
    for server, mine in made:
        mine.close()
        server.stop()
        assert server.join(10), "the server's thread ended"


def _batches(end: LinkEnd, until_done: str, timeout: float = 10.0) -> list[StreamBatch]:
    got: list[StreamBatch] = []
    poll = select.poll()
    poll.register(end.fileno(), select.POLLIN)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll.poll(100)
        got += end.receive()
        if any(b.done and b.turn_id == until_done for b in got):
            return got
    raise AssertionError(f"turn {until_done} did not end over the link; got {got}")


def _notices(server: LinkServer, count: int, timeout: float = 10.0) -> list:
    got: list = []
    poll = select.poll()
    poll.register(server.notice_fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        poll.poll(100)
        got += server.take_notices()
    return got


def _running_held(served) -> tuple[_Held, LinkServer, LinkEnd]:
    """A server whose turn t1 streams "held" until cancelled."""
    provider = _Held(reply="re {text}")
    server, owner = served(provider)
    owner.send(RunTurn("t1", _request("held")))
    assert provider.started.wait(10)
    return provider, server, owner


def _text(batches: list[StreamBatch]) -> str:
    return "".join(str(e) for b in batches for e in b.events)


def test_a_turn_sent_over_the_link_streams_back_as_batches_ending_with_done(served):
    _server, owner = served(ScriptedProvider(reply="hi {text}"))
    owner.send(RunTurn("t1", _request("there")))
    batches = _batches(owner, "t1")
    assert all(b.turn_id == "t1" for b in batches)
    assert [b.done for b in batches][-1] is True and not any(b.done for b in batches[:-1])
    assert "hi there" in _text(batches)


def test_each_turn_sent_once_the_last_ended_streams_its_own_reply(served):
    _server, owner = served(ScriptedProvider(reply="re {text}"))
    for i in range(20):
        owner.send(RunTurn(f"t{i}", _request(f"m{i}", f"t{i}")))
        assert f"re m{i}" in _text(_batches(owner, f"t{i}"))


def test_a_turn_sent_while_another_streams_cancels_that_one_and_runs(served):
    provider, _server, owner = _running_held(served)
    owner.send(RunTurn("t2", _request("next", "t2")))
    assert "re next" in _text(_batches(owner, "t2"))
    assert provider.cancelled.wait(10), "the superseded stream was cancelled"


def test_the_context_is_kept_between_turns_and_only_what_is_new_is_sent(served):
    seen: list[tuple] = []

    class _Recording(ScriptedProvider):
        def stream(self, request, control):
            seen.append(tuple(request.context))
            yield from super().stream(request, control)

    _server, owner = served(_Recording(reply="ok"))
    owner.send(RunTurn("t1", _request("a"), 0, ("c1", "c2")))
    _batches(owner, "t1")
    owner.send(RunTurn("t2", _request("b", "t2"), 2, ("c3",)))
    _batches(owner, "t2")
    owner.send(RunTurn("t3", _request("c", "t3"), 1, ("x",)))  # the owner rewound its context
    _batches(owner, "t3")
    assert seen == [("c1", "c2"), ("c1", "c2", "c3"), ("c1", "x")]


def test_a_stop_for_the_running_turn_cancels_its_stream_and_a_stale_one_is_ignored(served):
    provider, _server, owner = _running_held(served)
    owner.send(StopStream("t0"))  # not the running turn: nothing happens
    owner.send(PingStream("t1"))  # taken after the stale stop, in order
    deadline = time.monotonic() + 10
    while provider.control.pings == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the stream's control counts it; no event crosses back
    assert provider.control.pings == 1
    assert not provider.cancelled.is_set(), "the stale stop, taken before the ping, cancelled nothing"
    owner.send(StopStream("t1"))
    assert provider.cancelled.wait(10), "the stop reached the stream while it waited"
    owner.send(RunTurn("t2", _request("next", "t2")))
    assert "re next" in _text(_batches(owner, "t2")), "the next turn runs after a stopped one"


def test_a_steer_for_the_running_turn_reaches_its_stream(served):
    provider, _server, owner = _running_held(served)
    owner.send(SteerStream("t1", "turn left"))
    deadline = time.monotonic() + 10
    while "turn left" not in provider.steered and time.monotonic() < deadline:
        time.sleep(0.01)  # the provider's thread records it; no event crosses back
    assert "turn left" in provider.steered
    owner.send(StopStream("t1"))


def test_the_owner_closing_its_end_ends_the_server_with_a_notice_for_the_actor(served):
    server, owner = served(ScriptedProvider(reply="ok"))
    owner.send(RunTurn("t1", _request("a")))
    _batches(owner, "t1")
    owner.close()
    notices = _notices(server, 1)
    assert len(notices) == 1 and isinstance(notices[0], LinkEnded)
    assert server.join(10)


def test_the_owner_closing_its_end_under_a_running_stream_cancels_it(served):
    provider, server, owner = _running_held(served)
    owner.close()
    assert provider.cancelled.wait(10)
    assert any(isinstance(n, LinkEnded) for n in _notices(server, 1))


def test_an_unexpected_message_on_the_link_is_a_logged_notice_and_the_next_frame_still_runs(served):
    server, owner = served(ScriptedProvider(reply="re {text}"))
    owner.send({"not": "a data-path message"})
    owner.send(RunTurn("t1", _request("after")))
    assert "re after" in _text(_batches(owner, "t1"))
    (notice,) = _notices(server, 1)
    assert isinstance(notice, LogLine) and "unexpected dict" in notice.text


def test_a_broken_frame_ends_the_server_and_says_why(served):
    server, owner = served(ScriptedProvider(reply="ok"))
    os.write(owner.fileno(), b"\x00\x00\x00\x03abc")  # a frame that does not unpickle
    notices = _notices(server, 1)
    assert isinstance(notices[-1], LinkEnded) and "could not be read" in notices[-1].reason
    assert server.join(10)


def test_stop_from_the_actor_ends_the_thread_and_cancels_the_running_stream(served):
    provider, server, owner = _running_held(served)
    server.stop()
    assert provider.cancelled.wait(10)
    assert server.join(10), "the thread ended at its next look at the link"
    with pytest.raises(LinkBroken):  # what was sent before is read, then the server's end of file
        while True:
            owner.receive()


def test_a_provider_set_again_runs_the_next_stream_and_leaves_the_running_one_alone():
    # A repeated StartWorker (a spare stood by with another set-up) sets the provider again;
    # the stream already running, and the context, must go on (test_lease_lost once hung).
    held = _Held(reply="old {text}")
    streams = WorkerStreams(held)
    running = streams.run(RunTurn("t1", _request("held"), 0, ("c1",)))
    assert held.started.wait(10)
    streams.provider = ScriptedProvider(reply="new {text}")
    assert streams.current is running and not held.cancelled.is_set()
    streams.control(StopStream("t1"))
    assert held.cancelled.wait(10) and streams.current is None
    streams.run(RunTurn("t2", _request("next", "t2"), 1, ()))
    batches = []
    while not batches or not batches[-1].done:
        batch = streams.take(0.5, 256)
        if batch is not None:
            batches.append(batch)
    assert "new next" in _text(batches)
