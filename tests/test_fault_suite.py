"""The fault suite, short form: kills, hangs, wedges, outside writers, a second runtime, and
fuzzed bad input. For each: nothing acknowledged is lost, no reply is written twice, every
turn gets one outcome, and errors are typed.

The actor-process scenarios run on multiprocTCPBase (real processes to kill); the fuzzed
ones on simpleSystemBase, where a runtime starts in milliseconds. ``test_recovery_runtime``
has the single-fault versions; these repeat the fault, combine it with queued work, or
come from another process.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    assert_no_interleaving,
    read_entries,
    silence_for_a_minute,
    stopped,
    streams_started,
    wait_for,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionward import (
    BadInputError,
    InvalidMessageError,
    InvalidSessionKeyError,
    OutcomeReason,
    PathEscapesStoreError,
    QueuePolicy,
    Runtime,
    RuntimeConfig,
    ScriptedProvider,
    SessionwardError,
    StoreInUseError,
    TurnStatus,
)
from sessionward.actors.messages import OutcomeMessage
from sessionward.client import new_request_id
from sessionward.lanes.config import AgentConfig, HeartbeatConfig
from sessionward.lanes.timer_base import TimerLane
from sessionward.lanes.timer_messages import QueryLaneStats, TickNow
from sessionward.storage.keys import validate_session_key
from sessionward.storage.store import SessionStore, derived_session_id

FAST = {"recovery_tick": 0.2, "stall_after": 0.4, "abort_after": 1.0}
KEY = "agent:main:main"
KILLS = 3


def _wait_for(predicate, timeout: float, what: str):
    """Poll another process's state (there is no event to await across processes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _final_outcomes(handle) -> list:
    return [o for o in handle.outcomes if o.final]


def _replies(entries: list[dict]) -> Counter:
    """Turn id -> completed assistant replies (``stopReason: stop``) in the transcript."""
    return Counter(e["turnId"] for e in entries
                   if e.get("message", {}).get("role") == "assistant"
                   and e["message"].get("stopReason") == "stop")


def _turn_ends(entries: list[dict]) -> Counter:
    return Counter(e["turnId"] for e in entries if e.get("customType") == "sessionward.turn_end")


def _assert_accounted(handles, path: Path, allowed_failures: set[OutcomeReason]) -> list:
    """Every handle has exactly one final outcome, typed; the transcript agrees with them."""
    outcomes = [h.result(timeout=60) for h in handles]
    for handle, outcome in zip(handles, outcomes, strict=True):
        assert len(_final_outcomes(handle)) == 1, handle.outcomes
        if outcome.status is not TurnStatus.COMPLETED:
            assert outcome.reason in allowed_failures, outcome
    entries = read_entries(path)
    assert_no_interleaving(entries)
    replies, ends = _replies(entries), _turn_ends(entries)
    assert all(n == 1 for n in replies.values()), f"a reply written twice: {replies}"
    assert all(n == 1 for n in ends.values()), f"a turn ended twice: {ends}"
    for outcome in outcomes:
        if outcome.turn_id:
            assert ends[outcome.turn_id] == 1, f"turn {outcome.turn_id} has no turn_end"
        if outcome.status is TurnStatus.COMPLETED:
            assert replies[outcome.turn_id] == 1
    return outcomes


# --- actor processes ---------------------------------------------------------------------------


def test_an_owner_killed_mid_stream_three_times_in_a_row_loses_nothing(make_runtime, count_file):
    """Each kill lands while a turn streams; every acknowledged turn still gets one outcome."""
    provider = ScriptedProvider(reply="k" * 20, chunks=20, chunk_delay=0.03, count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider)
    path = Path(rt.session(KEY).file)
    handles, killed = [], []
    for i in range(KILLS):
        handles.append(rt.submit(KEY, f"long {i}"))
        handles.append(rt.submit(KEY, f"queued {i}", lane="channel:discord:general"))
        assert all(h.wait_accepted(timeout=30) for h in handles[-2:])

        streams_before = len(streams_started(count_file))

        def streaming_owner(streams_before=streams_before):
            # A stream started since the last kill (so by this owner's worker), and the
            # owner is still running that turn.
            runs = streams_started(count_file)
            try:
                state = rt.session(KEY, history=False, timeout=2)
            except TimeoutError:  # asked in the window where the owner had just died
                return None
            if len(runs) > streams_before and state.pid not in killed and state.turn_id == runs[-1]:
                return state.pid
            return None

        victim = _wait_for(streaming_owner, 30, f"a streaming owner before kill {i + 1}")
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
    outcomes = _assert_accounted(handles, path, {OutcomeReason.OWNER_LOST})
    assert any(o.status is TurnStatus.COMPLETED for o in outcomes)
    runs = Counter(streams_started(count_file))
    assert max(runs.values()) <= 2, f"a turn ran more than once after a crash: {runs}"
    # Only a turn interrupted twice fails (a crash while a turn waits does not count).
    lost = [o.turn_id for o in outcomes if o.reason is OutcomeReason.OWNER_LOST]
    assert all(runs[t] == 2 for t in lost), f"failed owner_lost after fewer than 2 runs: {lost}, {runs}"
    assert rt.status().owners_replaced == KILLS
    # the session still works after the last replacement
    assert rt.submit(KEY, "after the kills").result(timeout=30).status is TurnStatus.COMPLETED


def test_a_state_query_sent_just_after_an_owner_dies_is_answered(make_runtime):
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="q" * 10, chunks=10, chunk_delay=0.05))
    handle = rt.submit(KEY, "streaming")
    assert handle.wait_accepted(timeout=30)
    os.kill(rt.session(KEY).pid, signal.SIGKILL)
    assert rt.session(KEY, timeout=3).state in ("running", "idle")
    assert handle.result(timeout=30).status is TurnStatus.COMPLETED


def _lose_one_final_outcome(rt, of: set[str] | None = None) -> threading.Event:
    """Make ``rt``'s client drop the first final outcome that arrives (of a request in
    ``of``, when given), as an owner killed before the outcome left its process does; the
    event is set once it has."""
    mailbox, lost = rt._mailbox, threading.Event()
    dispatch = mailbox._dispatch

    def drop_once(msg):
        if (isinstance(msg, OutcomeMessage) and msg.outcome.final and not lost.is_set()
                and (of is None or msg.outcome.request_id in of)):
            lost.set()
            return
        dispatch(msg)  # an ``Answers`` comes back here for each of its answers

    mailbox._dispatch = drop_once
    return lost


def test_an_outcome_that_died_with_its_owner_is_sent_again_by_the_next_owner(make_runtime):
    """The owner ends the turn in the file, then dies before its outcome leaves its process
    (a member SIGKILLed: test_cluster saw it in 1 run of 20 beside two CPU burners). Here
    the client drops the outcome on arrival, which is the same to it; then the owner is
    killed. The next owner sends the outcome again: the turn ends once, and never runs twice."""
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="once", chunks=2, chunk_delay=0.01))
    lost = _lose_one_final_outcome(rt)
    handle = rt.submit(KEY, "answered once")
    assert lost.wait(30), "the turn did not end"
    assert not handle.done
    # A listing asks every owner for its state; its answer tells the Directory the submit
    # was handled, so it no longer keeps it to forward again (as recovery's periodic
    # listing does): only the next owner can answer it now.
    assert [s.session_key for s in rt.sessions()] == [KEY]
    os.kill(rt.session(KEY).pid, signal.SIGKILL)
    outcome = handle.result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED and outcome.reply == "once"
    entries = read_entries(Path(rt.session(KEY).file))
    assert _replies(entries) == Counter({outcome.turn_id: 1}) and _turn_ends(entries) == Counter({outcome.turn_id: 1})


def test_the_outcome_of_a_merged_submit_that_died_with_its_owner_is_sent_again_by_the_next_owner(make_runtime):
    """As above for a submit collected into another turn: it has no ``turn_end`` of its
    own, so the inbox says which turn it rode on, and it gets that turn's outcome again."""
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="got: {text}"),
                      config=RuntimeConfig(queue=QueuePolicy(collect_window=0.3)))
    lose: set[str] = set()
    lost = _lose_one_final_outcome(rt, of=lose)
    carrier = rt.submit(KEY, "one", mode="collect")
    rider = rt.submit(KEY, "two", mode="collect")
    lose.add(rider.request_id)
    first = carrier.result(timeout=30)
    assert lost.wait(30) and not rider.done
    assert [o.status for o in rider.outcomes] == [TurnStatus.MERGED]
    assert [s.session_key for s in rt.sessions()] == [KEY]  # the Directory forgets the submits
    os.kill(rt.session(KEY).pid, signal.SIGKILL)
    again = rider.result(timeout=30)
    assert (again.status, again.turn_id, again.reply, again.request_id) == (
        TurnStatus.COMPLETED, first.turn_id, "got: one\ntwo", rider.request_id)
    assert _turn_ends(read_entries(Path(rt.session(KEY).file))) == Counter({first.turn_id: 1})


def test_a_heartbeat_whose_outcome_died_with_its_owner_still_ends_and_the_next_one_is_not_skipped(
        make_runtime, tmp_path, monkeypatch):
    """A lane counts a submitted turn as running until its final outcome, and skips the
    timer's next ticks while it runs: an outcome lost with its owner stopped the heartbeat
    for good. The lane processes are forked from this one, so they drop the first outcome
    as patched here, and say so in a file."""
    dropped = tmp_path / "dropped"

    def lose_the_first_outcome(self, msg, sender):
        if msg.outcome.final and not dropped.exists():
            dropped.write_text(msg.outcome.request_id)
            return
        deliver(self, msg, sender)

    deliver = TimerLane.receiveMsg_OutcomeMessage
    monkeypatch.setattr(TimerLane, "receiveMsg_OutcomeMessage", lose_the_first_outcome)
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="HEARTBEAT_OK"))
    rt.start_lanes([AgentConfig(heartbeat=HeartbeatConfig(every=3600.0, jitter=0.0))])
    lane = rt._lanes[("main", "heartbeat")]

    def lane_ask(query, timeout: float = 30):
        return rt._mailbox.ask(lane, query, timeout)

    (first,) = rt.lane_stats()
    assert lane_ask(TickNow(new_request_id(), first.next_due_time)).submitted == 1
    _wait_for(dropped.exists, 30, "the heartbeat's outcome to be dropped")
    assert lane_ask(QueryLaneStats(new_request_id())).running
    key = "agent:main:main:heartbeat"
    assert [s.session_key for s in rt.sessions()] == [key]  # the Directory forgets the submit
    os.kill(rt.session(key).pid, signal.SIGKILL)
    done = lane_ask(QueryLaneStats(new_request_id(), wait_idle=True))
    assert done is not None, "the heartbeat's turn never ended for its lane"
    assert (done.acks, done.running) == (1, False)
    after = lane_ask(TickNow(new_request_id(), first.next_due_time + 3600.0))
    assert after.submitted == 2
    assert lane_ask(QueryLaneStats(new_request_id(), wait_idle=True)).acks == 2


def test_the_successor_of_a_dead_owner_waits_until_the_file_is_let_go_and_replays_its_turn(make_runtime):
    # Found under two CPU burners: a spare owner activates within milliseconds of its
    # predecessor's death being seen, and met the file still locked; the session then
    # answered `passive` with an acknowledged turn owed. Here the lock is held on purpose,
    # across the death: the Directory is stopped while the owner dies and this test takes
    # the lock, so the successor is sure to find it held.
    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="q" * 10, chunks=10, chunk_delay=0.05))
    handle = rt.submit(KEY, "streaming")
    assert handle.wait_accepted(timeout=30)
    state = rt.session(KEY)
    directory_pid = rt.status().pid
    held = None
    os.kill(directory_pid, signal.SIGSTOP)
    try:
        os.kill(state.pid, signal.SIGKILL)

        def take_the_lock():
            fd = os.open(state.file, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:  # the dying owner has not let go of it yet
                os.close(fd)
                return None

        held = wait_for(take_the_lock, 30, "the dead owner's lock")
    finally:
        os.kill(directory_pid, signal.SIGCONT)
    try:
        wait_for(lambda: "lock is not released yet" in Path(rt.log_file).read_text(), 30,
                 "the successor to find the file locked")
    finally:
        os.close(held)  # let go: the successor takes the file and replays the turn
    assert handle.result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.session(KEY).state in ("running", "idle")


def test_hung_streams_on_two_sessions_are_aborted_once_and_the_work_behind_them_completes(
    make_runtime, count_file
):
    provider = ScriptedProvider(reply="abcdef", chunks=6, chunk_delay=0.01, hang_after=0,
                                only_when="hang", count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, recovery=True, **FAST)
    keys = ["agent:main:main", "agent:main:channel:general"]
    hung = [rt.submit(k, "hang before the first token") for k in keys]
    behind = [rt.submit(k, f"then {n}", lane="direct:cli:alice") for k in keys for n in range(2)]
    for key, first in zip(keys, hung, strict=True):
        mine = [h for h in behind if h.session_key == key]
        _assert_accounted([first, *mine], Path(rt.session(key).file), {OutcomeReason.STALLED})
        assert first.result(timeout=1).reason is OutcomeReason.STALLED
        assert all(h.result(timeout=1).status is TurnStatus.COMPLETED for h in mine)
    runs = Counter(streams_started(count_file))
    assert [runs[h.turn_id] for h in hung] == [1, 1], "recovery started a second run"


def test_an_owner_wedged_mid_stream_is_replaced_and_each_turn_replies_once(make_runtime, count_file, shared_clock):
    provider = ScriptedProvider(reply="w" * 20, chunks=20, chunk_delay=0.05, count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, recovery=True, **FAST)
    streaming = rt.submit(KEY, "streaming when the owner wedges")
    _wait_for(lambda: streaming.turn_id in streams_started(count_file), 30, "the stream to start")
    state = rt.session(KEY)
    wedged, path = state.pid, Path(state.file)
    resume = stopped(wedged)
    try:
        queued = rt.submit(KEY, "sent while wedged", lane="channel:discord:general")
        silence_for_a_minute(rt, shared_clock)
        _assert_accounted([streaming, queued], path, set())
    finally:
        resume()
    assert rt.session(KEY).pid != wedged
    assert Counter(streams_started(count_file))[streaming.turn_id] <= 2


def test_another_process_appending_mid_stream_fences_every_accepted_turn_and_keeps_its_bytes(
    make_runtime,
):
    """A real other process appends (a torn line, no newline) while a turn streams and two wait."""
    provider = ScriptedProvider(reply="f" * 30, chunks=30, chunk_delay=0.03)
    rt = make_runtime(base="tcp", provider=provider)
    assert rt.submit(KEY, "before").result(timeout=30).status is TurnStatus.COMPLETED
    path = Path(rt.session(KEY).file)
    before = path.read_bytes()
    running = rt.submit(KEY, "running")
    waiting = [rt.submit(KEY, f"waiting {n}", lane="direct:cli:bob") for n in range(2)]
    assert all(h.wait_accepted(timeout=30) for h in [running, *waiting])
    outside = b'{"type":"custom","customType":"outside","data":{"torn":'
    subprocess.run([sys.executable, "-c",
                    f"open({str(path)!r}, 'ab').write({outside!r})"], check=True, timeout=30)
    for handle in [running, *waiting]:
        outcome = handle.result(timeout=30)
        assert len(_final_outcomes(handle)) == 1
        assert outcome.status is TurnStatus.FAILED and outcome.reason is OutcomeReason.FENCED
    # a new owner repairs the torn tail into a sidecar, keeps every byte, and writes again
    assert rt.submit(KEY, "after").result(timeout=30).status is TurnStatus.COMPLETED
    data = path.read_bytes()
    assert data.startswith(before)
    torn = [p.read_bytes() for p in path.parent.glob(path.name + ".torn*")]
    assert outside in data or any(outside in t for t in torn)
    entries = read_entries(path)
    assert_no_interleaving(entries)
    assert all(n == 1 for n in _replies(entries).values())


def test_a_second_runtime_is_refused_while_the_first_serves_the_store_and_takes_it_over_after(
    make_runtime, tmp_path
):
    """One store, one actor system: the second is refused in one line, then takes over."""
    store = tmp_path / "shared"
    first = make_runtime(store, base="tcp")
    keys = [f"agent:main:shared{n}" for n in range(3)]
    for key in keys:
        assert first.submit(key, "first", lane="direct:cli:a").result(timeout=30).status is TurnStatus.COMPLETED
    with pytest.raises(StoreInUseError, match=f"^store in use by pid {os.getpid()}$"):
        make_runtime(store, base="tcp")
    first.close()  # its owners release their files and the store; the next runtime takes them
    second = make_runtime(store, base="tcp")
    for key in keys:
        assert second.submit(key, "second", lane="direct:cli:a").result(timeout=30).status is TurnStatus.COMPLETED
    files = [Path(second.session(key).file) for key in keys]
    second.close()  # the Directory writes the index at exit
    assert set(keys) <= set(SessionStore(store).load_index())
    for path in files:
        entries = read_entries(path)
        assert_no_interleaving(entries)
        assert sorted(_replies(entries).values()) == [1, 1]


# --- fuzzed bad input (simpleSystemBase) ------------------------------------------------------

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def simple_rt(tmp_path_factory):
    rt = Runtime(tmp_path_factory.mktemp("fuzz") / "store", base="simple", recovery=False,
                 provider=ScriptedProvider(reply="echo: {text}"))
    yield rt
    rt.close()


_KEYISH = st.from_regex(r"\A(agent|cron|hook|x|)(:[A-Za-z0-9_.@+\-/ \x00.]{0,6}){0,4}\Z")


@FUZZ
@given(key=st.one_of(_KEYISH, st.text(max_size=40), st.binary(max_size=20), st.integers(), st.none()))
def test_fuzzed_session_keys_are_run_or_refused_with_a_typed_error(simple_rt, key):
    try:
        handle = simple_rt.submit(key, "hi")
    except InvalidSessionKeyError:
        with pytest.raises(InvalidSessionKeyError):
            validate_session_key(key)
        return
    validate_session_key(key)  # accepted keys are valid ones
    outcome = handle.result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED
    path = Path(simple_rt.session(key).file)
    assert path.parent == simple_rt.store.sessions_dir


@FUZZ
@given(session_id=st.one_of(st.text(max_size=40), st.from_regex(r"\A[./a-z0-9\x00-]{0,12}\Z")))
def test_fuzzed_session_ids_resolve_inside_the_store_or_are_refused(tmp_path_factory, session_id):
    store = SessionStore(tmp_path_factory.mktemp("ids"))
    try:
        path = store.transcript_path(session_id)
    except PathEscapesStoreError:
        return
    assert path.parent == Path(os.path.realpath(store.sessions_dir))


@FUZZ
@given(session_id=st.sampled_from(["../../outside", "/etc/passwd", "a/../../b", ".hidden", "x\x00y",
                                   "ok-id", derived_session_id("agent:main:x")]))
def test_an_index_naming_a_file_outside_the_store_refuses_that_session_with_a_typed_error(session_id):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        (root / "sessions").mkdir(parents=True)
        index = {"agent:main:x": {"sessionId": session_id}, "agent:main:fine": {"sessionId": "fine-id"}}
        (root / "sessions" / "fine-id.jsonl").write_bytes(b"")
        (root / "sessions.json").write_text(json.dumps(index))
        outside = set(os.listdir(tmp))
        with Runtime(root, base="simple", recovery=False, provider=ScriptedProvider(reply="ok")) as rt:
            try:
                outcome = rt.submit("agent:main:x", "hi").result(timeout=30)
            except PathEscapesStoreError:  # its own session only: the rest of the store serves
                assert session_id not in ("ok-id", derived_session_id("agent:main:x"))
            else:
                # The index names a file that is not there: a typed failure, and nothing is
                # created in its place (issue 14), inside the store or out of it.
                assert outcome.reason is OutcomeReason.TRANSCRIPT_MISSING, outcome
                assert Path(rt.session("agent:main:x").file).parent == root.resolve() / "sessions"
            assert rt.submit("agent:main:fine", "hi").result(timeout=30).status is TurnStatus.COMPLETED
        assert set(os.listdir(tmp)) == outside
        assert json.loads((root / "sessions.json").read_text())["agent:main:x"] == {"sessionId": session_id}


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=50), st.integers(),
                      st.text(min_size=1, max_size=5).map(lambda s: s * 300)))
def test_fuzzed_payloads_are_persisted_exactly_or_refused_with_a_typed_error(simple_rt, text):
    try:
        handle = simple_rt.submit(KEY, text)
    except InvalidMessageError:
        return
    outcome = handle.result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED
    entries = read_entries(Path(simple_rt.session(KEY).file))
    users = [e for e in entries
             if e.get("turnId") == outcome.turn_id and e.get("message", {}).get("role") == "user"]
    expected = text.decode("utf-8") if isinstance(text, bytes) else text
    assert [u["message"]["content"][0]["text"] for u in users] == [expected]


def _tails():
    entry = json.dumps({"type": "message", "id": "abcd1234", "parentId": None,
                        "message": {"role": "user", "content": [{"type": "text", "text": "x"}]}})
    torn = st.integers(min_value=1, max_value=len(entry) - 1).map(lambda n: entry[:n].encode())
    json_lines = st.lists(
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=5).map(lambda v: json.dumps(v).encode() + b"\n"),
        min_size=1, max_size=3).map(b"".join)
    return st.one_of(st.binary(min_size=1, max_size=200), torn, json_lines,
                     st.tuples(json_lines, torn).map(b"".join))


@FUZZ
@given(tail=_tails())
def test_a_transcript_with_a_corrupt_or_torn_tail_opens_without_losing_a_byte(tail):
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        with Runtime(store, base="simple", recovery=False) as rt:
            assert rt.submit(KEY, "first").result(timeout=30).status is TurnStatus.COMPLETED
            path = Path(rt.session(KEY).file)
        prefix = path.read_bytes()
        with open(path, "ab") as f:
            f.write(tail)
        with Runtime(store, base="simple", recovery=False) as rt:
            try:
                outcome = rt.submit(KEY, "after the damage").result(timeout=30)
            except SessionwardError:
                outcome = None  # a typed refusal is allowed; losing bytes is not
            assert outcome is None or outcome.status is TurnStatus.COMPLETED or isinstance(
                outcome.reason, OutcomeReason)
        data = path.read_bytes()
        assert data.startswith(prefix), "bytes written before the damage were lost"
        torn = b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + ".torn*")))
        assert tail.endswith(torn)
        assert data[len(prefix):].startswith(tail[: len(tail) - len(torn)]), "the tail was not kept"


def test_typed_errors_share_one_root():
    """Every bad-input error is a ``SessionwardError`` and a ``ValueError``."""
    for error in (InvalidSessionKeyError, InvalidMessageError, PathEscapesStoreError):
        assert issubclass(error, BadInputError)
        assert issubclass(error, SessionwardError) and issubclass(error, ValueError)
