"""A turn that ends while the next one starts shares that turn's fsync (issue 17): one fsync
for a run of queued turns, each outcome sent only once its entries are on disk, a turn alone
never delayed, and turns that ended before a shutdown or a fence keep their own outcome."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from conftest import read_entries, transcript_of, wait_for

from sessionward import RuntimeConfig, ScriptedProvider, TurnStatus, clock
from sessionward.actors import owner_state
from sessionward.actors.owner import SessionOwner
from sessionward.outcomes import OutcomeReason
from sessionward.storage.transcript import Durability, TranscriptFile

KEY = "agent:main:main"
HOLD = {"first": threading.Event(), "second": threading.Event()}
"""Texts whose stream waits for their event (this process: the tests use simpleSystemBase)."""


class HeldProvider(ScriptedProvider):
    def stream(self, request, control):
        gate = HOLD.get(request.text)
        if gate is not None:
            gate.wait(30)
        yield from super().stream(request, control)


@pytest.fixture(autouse=True)
def _gates():
    for gate in HOLD.values():
        gate.clear()
    yield
    for gate in HOLD.values():
        gate.set()


@pytest.fixture
def record(monkeypatch):
    """Every real transcript fsync (with the file's size then) and every outcome sent, in order."""
    events: list[tuple] = []
    sync, deliver = TranscriptFile.sync, SessionOwner._deliver

    def recording_sync(self):
        if self._dirty and self.durability is not Durability.NEVER:
            events.append(("sync", self.fingerprint.size))
        sync(self)

    def recording_deliver(self, *deliveries):
        events.extend(("sent", d.outcome.turn_id) for d in deliveries if d is not None)
        deliver(self, *deliveries)

    monkeypatch.setattr(TranscriptFile, "sync", recording_sync)
    monkeypatch.setattr(SessionOwner, "_deliver", recording_deliver)
    return events


def _turn_end_offsets(path) -> dict[str, int]:
    """turn id -> the byte offset just past its turn_end line."""
    offsets, at = {}, 0
    for line in path.read_bytes().splitlines(keepends=True):
        at += len(line)
        if b'"sessionward.turn_end"' in line:
            offsets[json.loads(line)["data"]["turnId"]] = at
    return offsets


def _hold_then_queue(rt, more: int):
    first = rt.submit(KEY, "first")
    wait_for(lambda: rt.session(KEY).turn_id is not None, 30, "the first turn running")
    rest = [rt.submit(KEY, f"m{i}") for i in range(more)]
    for handle in rest:
        assert handle.wait_accepted(30)
    return first, rest


# -- pure ------------------------------------------------------------------------------------------


def test_only_a_quick_turn_with_another_started_behind_it_waits_for_a_shared_fsync():
    def shares(durability=Durability.TURN, window=0.1, started_next=True, turn_seconds=0.01):
        return owner_state.shares_sync(durability, window, started_next=started_next, turn_seconds=turn_seconds)

    assert shares()
    assert shares(turn_seconds=0.1), "a turn as long as the window still waits"
    assert not shares(turn_seconds=0.1001), "a turn longer than the window: the next would not end in time"
    assert not shares(turn_seconds=30.0), "a model's stream of seconds"
    assert not shares(started_next=False), "a turn alone is never delayed"
    assert not shares(window=0.0, turn_seconds=0.0), "a window of 0 turns it off"
    assert not shares(durability=Durability.ENTRY), "every line is fsynced already"
    assert not shares(durability=Durability.NEVER)
    assert not shares(durability=None)


@pytest.mark.parametrize("window", [-0.001, float("inf"), float("nan")])
def test_a_shared_fsync_window_that_is_not_a_finite_duration_of_0_or_more_is_refused(window):
    with pytest.raises(ValueError, match="shared_fsync_window"):
        RuntimeConfig(shared_fsync_window=window)


# -- through an owner (simpleSystemBase, in this process) -------------------------------------------


def test_queued_turns_share_one_fsync_and_each_outcome_is_sent_after_its_entries_are_on_disk(
        make_runtime, record):
    # A window no turn here reaches: only a turn's end with nothing started after it syncs.
    rt = make_runtime(provider=HeldProvider(reply="re {text}"), config=RuntimeConfig(shared_fsync_window=30.0))
    first, rest = _hold_then_queue(rt, 5)
    start = len(record)
    HOLD["first"].set()
    outcomes = [h.result(timeout=30) for h in (first, *rest)]
    assert [o.status for o in outcomes] == [TurnStatus.COMPLETED] * 6
    burst = record[start:]
    assert len([e for e in burst if e[0] == "sync"]) == 1, burst
    offsets = _turn_end_offsets(transcript_of(rt, KEY))
    synced = 0
    for event in burst:
        if event[0] == "sync":
            synced = max(synced, event[1])
        else:
            assert synced >= offsets[event[1]], f"turn {event[1]}'s outcome went before its turn_end was fsynced"
    assert [o.reply for o in outcomes] == ["re first", *(f"re m{i}" for i in range(5))]


def test_with_a_window_of_0_every_queued_turn_takes_its_own_fsync_before_its_outcome(make_runtime, record):
    rt = make_runtime(provider=HeldProvider(reply="ok"), config=RuntimeConfig(shared_fsync_window=0))
    first, rest = _hold_then_queue(rt, 3)
    start = len(record)
    HOLD["first"].set()
    assert [h.result(timeout=30).status for h in (first, *rest)] == [TurnStatus.COMPLETED] * 4
    burst = record[start:]
    assert [kind for kind, _ in burst] == ["sync", "sent"] * 4, burst


def test_a_turn_alone_gets_its_outcome_without_waiting_for_the_window(make_runtime, record):
    rt = make_runtime(provider=HeldProvider(reply="ok"), config=RuntimeConfig(shared_fsync_window=30.0))
    outcome = rt.submit(KEY, "alone").result(timeout=10)  # would wait 30 s if it were held
    assert outcome.status is TurnStatus.COMPLETED
    assert ("sent", outcome.turn_id) in record


def test_a_turn_waiting_for_its_fsync_is_not_lost_behind_a_long_next_turn(make_runtime, record):
    # A window the quick turn is sure to be within, even on a loaded machine: it waits for the timer.
    rt = make_runtime(provider=HeldProvider(reply="ok"), config=RuntimeConfig(shared_fsync_window=1.0))
    first = rt.submit(KEY, "quick")
    second = rt.submit(KEY, "second")  # holds its stream until released
    done = first.result(timeout=10)  # the window's timer sends it; the second turn still streams
    assert done.status is TurnStatus.COMPLETED
    assert not second.done
    HOLD["second"].set()
    assert second.result(timeout=10).status is TurnStatus.COMPLETED


class ShiftedClock:
    """The wall clock plus seconds the test adds: a turn made to look long without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


def test_a_turn_longer_than_the_window_takes_its_own_fsync_at_once_though_another_started_behind_it(
        make_runtime, record, monkeypatch):
    timers = []
    wakeup_after = SessionOwner.wakeupAfter

    def recording_wakeup_after(self, delay, payload=None):
        timers.append(type(payload).__name__)
        return wakeup_after(self, delay, payload=payload)

    monkeypatch.setattr(SessionOwner, "wakeupAfter", recording_wakeup_after)
    rt = make_runtime(provider=HeldProvider(reply="ok"), config=RuntimeConfig(shared_fsync_window=30.0))
    with clock.use(ShiftedClock()) as shifted:
        first = rt.submit(KEY, "first")
        wait_for(lambda: rt.session(KEY).turn_id is not None, 30, "the first turn running")
        second = rt.submit(KEY, "second")  # holds its stream until released
        assert second.wait_accepted(30)
        shifted.offset += 60.0  # the first turn has now run for a minute: longer than the window
        start = len(record)
        HOLD["first"].set()
        done = first.result(timeout=10)  # with a 30 s window, only a sync at once sends it in time
        assert done.status is TurnStatus.COMPLETED
        assert not second.done
        burst = record[start:]
        assert burst[:2] == [("sync", burst[0][1]), ("sent", first.turn_id)], burst
        assert "SyncDue" not in timers
        HOLD["second"].set()
        assert second.result(timeout=10).status is TurnStatus.COMPLETED


class FileGatedProvider(ScriptedProvider):
    """Streams a turn whose text names a gate (``gates``: text -> file) only once that file
    is gone (any process can see it: multiprocTCPBase)."""

    def __init__(self, gates: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.gates = gates

    def stream(self, request, control):
        gate = self.gates.get(request.text)
        deadline = time.monotonic() + 30
        while gate is not None and os.path.exists(gate) and time.monotonic() < deadline:
            if control.cancelled:
                return
            time.sleep(0.01)
        yield from super().stream(request, control)


def test_a_turn_that_ended_before_a_shutdown_keeps_its_completed_outcome(make_runtime, tmp_path):
    first_gate, second_gate = tmp_path / "first", tmp_path / "second"
    first_gate.touch()
    second_gate.touch()
    gates = {"quick": str(first_gate), "second": str(second_gate)}
    rt = make_runtime(base="tcp", provider=FileGatedProvider(gates, reply="ok"),
                      config=RuntimeConfig(shared_fsync_window=30.0))
    first = rt.submit(KEY, "quick")
    second = rt.submit(KEY, "second")
    assert second.wait_accepted(30)  # queued behind the first, which waits for its gate
    first_gate.unlink()  # the first ends; the second starts as it does, and holds
    wait_for(lambda: rt.session(KEY).turn_id == second.turn_id, 30, "the second turn running")
    assert not first.done, "the first turn waits for the second's fsync (30 s window)"
    path = transcript_of(rt, KEY)
    rt.close()  # the owner's shutdown settles the first turn as it ended, then ends the second
    entries = read_entries(path)
    ends = {e["data"]["turnId"]: (e["data"]["status"], e["data"]["reason"])
            for e in entries if e.get("customType") == "sessionward.turn_end"}
    assert ends == {first.turn_id: ("completed", None),
                    second.turn_id: ("cancelled", OutcomeReason.SHUT_DOWN.value)}
