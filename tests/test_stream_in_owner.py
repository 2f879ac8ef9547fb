"""``stream_in = "owner"``: provider streams in a thread of the owner, woken through a pipe.

The pure parts (``ProviderStream``, ``WakePipe``) are tested without an actor system; the
owner's use of them on both Thespian bases (``ThespianWatch`` on the TCP base, a timer on
``simpleSystemBase``).
"""

from __future__ import annotations

import os
import select
import threading
import time

import pytest
from conftest import read_entries, transcript_of, wait_for

from sessionward import OutcomeReason, RuntimeConfig, ScriptedProvider, StreamIn, TurnStatus
from sessionward.actors.stream_pump import ProviderStream, StreamThreads, WakePipe
from sessionward.hosting.system import children
from sessionward.providers.base import MessageEnd, ProviderFailure, TextDelta

OWNER = RuntimeConfig(stream_in=StreamIn.OWNER)


class _Gate:
    """A provider whose stream yields one delta, then waits for ``release`` (not picklable:
    for ``ProviderStream`` only)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def stream(self, request, control):
        yield TextDelta("a")
        self.release.wait(10)
        yield TextDelta("b")


class IgnoresCancel:
    """A provider that hangs in a call that never looks at its ``StreamControl`` when the
    turn's text says ``hang`` (a blocked socket read, say), and answers ``ok`` otherwise."""

    name = "ignores-cancel"

    def stream(self, request, control):
        if "hang" in request.text:
            time.sleep(30)
            yield TextDelta("too late")
            return
        yield TextDelta("ok")
        yield MessageEnd("stop")


def _readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


# -- pure: the stream and its wake pipe ----------------------------------------------------


def test_a_stream_writes_one_wake_byte_until_its_events_are_taken():
    pipe = WakePipe()
    gate = _Gate()
    try:
        stream = ProviderStream("t1", gate, None, pipe.write_fd)
        assert _readable(pipe.read_fd, 5), "the first event woke nobody"
        time.sleep(0.05)  # no event can come meanwhile: the provider waits on its gate
        assert os.read(pipe.read_fd, 100) == b"w", "more than one wake byte for events not yet taken"
        events, done = stream.take()
        assert [e.text for e in events] == ["a"] and not done
        gate.release.set()
        assert _readable(pipe.read_fd, 5), "an event after a take woke nobody"
        pipe.clear()
        events, done = stream.take(wait=5)
        assert [e.text for e in events] == ["b"]
        if not done:
            assert stream.take(wait=5) == ([], True)
        assert stream.finished is not None and stream.seconds >= 0
    finally:
        gate.release.set()
        pipe.close()


def test_take_returns_at_most_its_limit_and_keeps_the_rest_in_order():
    provider = ScriptedProvider(reply="abcdef", chunks=6)
    stream = ProviderStream("t1", provider, _request(), None)
    assert stream.wait_ended(5)
    first, done = stream.take(most=4)
    assert [e.text for e in first] == ["a", "b", "c", "d"] and not done
    rest, done = stream.take()
    assert [getattr(e, "text", None) for e in rest] == ["e", "f", None] and done
    assert isinstance(rest[-1], MessageEnd)


def test_a_provider_that_raises_ends_its_stream_with_a_typed_failure():
    class Broken:
        name = "broken"

        def stream(self, request, control):
            raise RuntimeError("boom")
            yield  # pragma: no cover

    stream = ProviderStream("t1", Broken(), None, None)
    events, done = stream.take(wait=5)
    while not done:
        more, done = stream.take(wait=5)
        events += more
    assert len(events) == 1 and isinstance(events[0], ProviderFailure) and "boom" in events[0].message


def test_an_abandoned_stream_never_writes_into_a_file_that_reuses_its_pipes_descriptor(tmp_path):
    pipe = WakePipe()
    gate = _Gate()
    stream = ProviderStream("t1", gate, None, pipe.write_fd)
    stream.take(wait=5)
    stream.detach()  # abandoned (an abort), then the owner closes its pipe
    write_fd = pipe.write_fd
    pipe.close()
    reused = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT) for i in range(2)]
    try:
        assert write_fd in reused, "the descriptor was not reused; the test shows nothing"
        gate.release.set()
        assert stream.wait_ended(5)
        assert all(os.fstat(fd).st_size == 0 for fd in reused), "a wake byte landed in another file"
    finally:
        for fd in reused:
            os.close(fd)


def test_a_stream_after_one_that_ended_runs_on_the_same_thread():
    threads = StreamThreads()
    seen: list[int] = []
    done = [threading.Event(), threading.Event()]
    for event in done:
        threads.run(lambda event=event: (seen.append(threading.get_ident()), event.set()))
        assert event.wait(5)
        wait_for(lambda: threads.idle() == 1, 5, "the thread back on the idle list after its job")
    assert seen[0] == seen[1]


def test_a_hung_stream_keeps_its_thread_and_the_next_stream_gets_another():
    threads = StreamThreads()
    hang, started, seen = threading.Event(), threading.Event(), []
    threads.run(lambda: (seen.append(threading.get_ident()), started.set(), hang.wait(10)))
    assert started.wait(5)
    second = threading.Event()
    threads.run(lambda: (seen.append(threading.get_ident()), second.set()))
    try:
        assert second.wait(5), "the next stream waited for the hung one"
        assert seen[0] != seen[1]
    finally:
        hang.set()


def test_a_forked_process_runs_its_streams_on_threads_of_its_own():
    threads = StreamThreads()
    ran = threading.Event()
    threads.run(ran.set)
    assert ran.wait(5)
    wait_for(lambda: threads.idle() == 1, 5, "an idle thread in the parent, which a fork does not copy")
    pid = os.fork()
    if pid == 0:  # the child: its job must run although the listed idle thread is not here
        child_ran = threading.Event()
        threads.run(child_ran.set)
        os._exit(0 if child_ran.wait(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _request():
    from sessionward.providers.base import ProviderRequest

    return ProviderRequest("agent:main:main", "t1", "hi", (), "main")


# -- the owner, on both bases ------------------------------------------------------------


def test_a_turn_streamed_in_its_owner_completes_and_is_written_like_any_other(make_runtime, base):
    rt = make_runtime(base=base, config=OWNER, provider=ScriptedProvider(reply="abcdef", chunks=3))
    seen: list[str] = []
    outcomes = [rt.submit("agent:main:main", f"hi {i}", on_delta=seen.append).result(timeout=30) for i in range(3)]
    assert [o.status for o in outcomes] == [TurnStatus.COMPLETED] * 3
    assert [o.reply for o in outcomes] == ["abcdef"] * 3 and "".join(seen) == "abcdef" * 3
    entries = read_entries(transcript_of(rt, "agent:main:main"))
    roles = [e["message"]["role"] for e in entries if e.get("type") == "message"]
    assert roles == ["user", "assistant"] * 3


def test_a_running_session_that_streams_in_its_owner_is_one_process(make_runtime):
    rt = make_runtime(base="tcp", config=OWNER,
                      provider=ScriptedProvider(reply="x" * 10, chunks=10, chunk_delay=0.2))
    handle = rt.submit("agent:main:main", "go")
    wait_for(lambda: rt.session("agent:main:main").state == "running", 30, "the turn to run")
    owner = rt.session("agent:main:main").pid
    assert children(owner) == set(), "an owner that streams itself started a worker"
    assert handle.result(timeout=30).status is TurnStatus.COMPLETED


def test_deltas_streamed_in_the_owner_arrive_while_the_turn_streams(make_runtime):
    # 20 chunks 50 ms apart: woken through the pipe, drained at most every 20 ms.
    rt = make_runtime(base="tcp", config=OWNER, provider=ScriptedProvider(reply="x" * 20, chunks=20, chunk_delay=0.05))
    arrivals: list[float] = []
    outcome = rt.submit("agent:main:main", "go", on_delta=lambda _text: arrivals.append(time.time())).result(timeout=30)
    assert outcome.reply == "x" * 20
    early = [t for t in arrivals if t < outcome.finished_time - 0.3]
    assert len(early) >= 5, f"only {len(early)} of {len(arrivals)} deliveries came before the stream's last 0.3 s"


def test_a_fast_stream_in_the_owner_is_forwarded_in_batches_not_event_by_event(make_runtime):
    rt = make_runtime(base="tcp", config=OWNER, provider=ScriptedProvider(reply="y" * 4000, chunks=4000))
    deliveries: list[str] = []
    outcome = rt.submit("agent:main:main", "go", on_delta=deliveries.append).result(timeout=30)
    assert outcome.reply == "y" * 4000 and "".join(deliveries) == outcome.reply
    assert len(deliveries) < 400, f"{len(deliveries)} deliveries for 4,000 events"


def test_an_abort_ends_a_stream_in_the_owner_that_ignores_cancellation_and_the_next_turn_runs(make_runtime):
    rt = make_runtime(base="tcp", config=OWNER, provider=IgnoresCancel())
    hung = rt.submit("agent:main:main", "hang here")
    wait_for(lambda: rt.session("agent:main:main").state == "running", 30, "the hung turn to run")
    assert rt.abort("agent:main:main").ok
    assert hung.result(timeout=30).reason is OutcomeReason.ABORTED
    after = rt.submit("agent:main:main", "then this").result(timeout=30)
    assert after.status is TurnStatus.COMPLETED and after.reply == "ok"


def test_a_provider_error_streamed_in_the_owner_is_a_typed_outcome(make_runtime, base):
    provider = ScriptedProvider(reply="abc", chunks=3, fail_with="rate_limit", fail_after=1)
    rt = make_runtime(base=base, config=OWNER, provider=provider)
    outcome = rt.submit("agent:main:main", "go").result(timeout=30)
    assert outcome.status is TurnStatus.FAILED and outcome.reason is OutcomeReason.PROVIDER_ERROR
    assert rt.submit("agent:main:main", "again").result(timeout=30).status is TurnStatus.FAILED


def test_steering_reaches_a_stream_in_the_owner(make_runtime):
    provider = ScriptedProvider(reply="abcdef", chunks=6, chunk_delay=0.1, supports_steering=True)
    rt = make_runtime(base="tcp", config=OWNER, provider=provider)
    first = rt.submit("agent:main:main", "go")
    wait_for(lambda: rt.session("agent:main:main").state == "running", 30, "the turn to run")
    steer = rt.submit("agent:main:main", "left", mode="steer")
    assert steer.wait_accepted(timeout=30) and steer.decision == "steered"
    outcome = first.result(timeout=30)
    assert "[steer: left]" in outcome.reply
    steer.result(timeout=30)
    merged, rider_final = steer.outcomes
    assert merged.status is TurnStatus.MERGED and rider_final.reply == outcome.reply


@pytest.mark.parametrize("stream_in", ["worker", "owner"])
def test_stream_in_takes_its_two_values_and_refuses_others(stream_in):
    assert RuntimeConfig(stream_in=stream_in).stream_in == stream_in
    with pytest.raises(ValueError, match="stream_in must be 'worker' or 'owner'"):
        RuntimeConfig(stream_in="thread")
