"""Recovery against real owner processes (multiprocTCPBase): ask the owner, never re-fire."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    assert_no_interleaving,
    read_entries,
    recovery_ticks,
    silence_for_a_minute,
    stopped,
    streams_started,
    wait_for,
)

from sessionward import OutcomeReason, ProviderSpec, RecoveryConfig, RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.actors.messages import ReplaceOwner
from sessionward.hosting.system import alive
from sessionward.recovery.history import ActionKind

FAST = {"recovery_tick": 0.2, "stall_after": 0.4, "abort_after": 1.0}
KEY = "agent:main:main"


def test_a_hung_stream_is_aborted_as_stalled_and_never_run_twice(make_runtime, count_file):
    provider = ScriptedProvider(reply="abcdef", chunks=6, chunk_delay=0.01, hang_after=2, only_when="hang",
                                count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, recovery=True, **FAST)
    hung = rt.submit("agent:main:main", "please hang")
    queued = rt.submit("agent:main:main", "after it", lane="channel:discord:general")
    started = time.monotonic()
    outcome = hung.result(timeout=30)
    waited = time.monotonic() - started
    assert outcome.status is TurnStatus.FAILED and outcome.reason is OutcomeReason.STALLED
    assert waited <= FAST["abort_after"] + FAST["stall_after"] + 2 * FAST["recovery_tick"] + 1.0
    assert queued.result(timeout=30).status is TurnStatus.COMPLETED
    entries = read_entries(Path(rt.session("agent:main:main").file))
    assert_no_interleaving(entries)
    partial = [e for e in entries
               if e.get("turnId") == hung.turn_id and e.get("message", {}).get("role") == "assistant"]
    assert [e["message"]["stopReason"] for e in partial] == ["aborted"]
    assert streams_started(count_file).count(hung.turn_id) == 1
    kinds = [a.kind for a in rt.recovery_history().actions if a.turn_id == hung.turn_id]
    assert ActionKind.ABORT in kinds and ActionKind.NUDGE in kinds


def test_a_long_turn_that_keeps_streaming_is_left_alone(make_runtime):
    # 2.4 s in all, longer than abort_after, with progress every 60 ms: 16 progress events
    # per stall_after, so a loaded machine's scheduling delays cannot look like a stall.
    provider = ScriptedProvider(reply="s" * 40, chunks=40, chunk_delay=0.06)
    rt = make_runtime(base="tcp", provider=provider, recovery=True,
                      recovery_tick=0.2, stall_after=1.0, abort_after=2.0)
    outcome = rt.submit("agent:main:main", "long").result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED
    kinds = {a.kind for a in rt.recovery_history().actions}
    assert kinds <= {ActionKind.WARN}, kinds


@pytest.mark.parametrize("stream_in", ["worker", "owner"])
def test_an_owner_killed_mid_stream_is_replaced_and_its_turns_run_once_more(make_runtime, count_file, stream_in):
    provider = ScriptedProvider(reply="r" * 30, chunks=30, chunk_delay=0.05, count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, config=RuntimeConfig(stream_in=stream_in))
    first = rt.submit("agent:main:main", "one")
    second = rt.submit("agent:main:main", "two", lane="channel:discord:general")
    assert second.wait_accepted(timeout=30)
    wait_for(lambda: first.turn_id in streams_started(count_file), 30, "the first stream to start")
    victim = rt.session("agent:main:main").pid
    os.kill(victim, signal.SIGKILL)
    outcomes = [first.result(timeout=60), second.result(timeout=60)]
    assert [o.status for o in outcomes] == [TurnStatus.COMPLETED, TurnStatus.COMPLETED]
    state = rt.session("agent:main:main")
    assert state.pid != victim
    entries = read_entries(Path(state.file))
    assert_no_interleaving(entries)
    replies = [e["turnId"] for e in entries if e.get("message", {}).get("role") == "assistant"
               and e["message"]["stopReason"] == "stop"]
    assert sorted(replies) == sorted([first.turn_id, second.turn_id])
    runs = streams_started(count_file)
    assert runs.count(first.turn_id) == 2  # killed once, re-run once
    assert runs.count(second.turn_id) == 1
    assert rt.status().owners_replaced == 1


def test_an_owner_silent_for_many_ticks_but_less_than_wedged_after_is_not_replaced(make_runtime):
    # The churn seen under fsync pressure: two missed 0.2 s sweeps replaced healthy owners.
    rt = make_runtime(base="tcp", recovery=True, **FAST)
    assert rt.submit(KEY, "warm up").result(timeout=30).status is TurnStatus.COMPLETED
    pid = rt.session(KEY).pid
    resume = stopped(pid)
    try:
        start = recovery_ticks(rt)
        wait_for(lambda: recovery_ticks(rt) >= start + 15, 30, "fifteen recovery sweeps")
    finally:
        resume()
    assert rt.session(KEY).pid == pid
    assert rt.status().owners_replaced == 0
    assert ActionKind.REPLACE not in {a.kind for a in rt.recovery_history().actions}
    assert rt.submit(KEY, "after").result(timeout=30).status is TurnStatus.COMPLETED


def test_a_sigstopped_owner_is_replaced_once_after_wedged_after_and_its_lock_freed(make_runtime, shared_clock):
    rt = make_runtime(base="tcp", recovery=True, **FAST)
    assert rt.submit(KEY, "warm up").result(timeout=30).status is TurnStatus.COMPLETED
    wedged = rt.session(KEY).pid
    resume = stopped(wedged)
    try:
        late = rt.submit(KEY, "sent while it is stopped")
        silence_for_a_minute(rt, shared_clock)
        wait_for(lambda: not alive(wedged), 30, "the wedged owner to be ended")
    finally:
        resume()
    assert late.result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.submit(KEY, "after").result(timeout=30).status is TurnStatus.COMPLETED
    start = recovery_ticks(rt)
    wait_for(lambda: recovery_ticks(rt) >= start + 10, 30, "ten more sweeps")
    assert rt.session(KEY).pid != wedged
    assert rt.status().owners_replaced == 1
    assert [a.kind for a in rt.recovery_history().actions].count(ActionKind.REPLACE) == 1


def test_an_owner_that_takes_thirty_seconds_to_activate_is_not_replaced(make_runtime, shared_clock, tmp_path):
    gate, entered = tmp_path / "gate", tmp_path / "entered"
    gate.touch()
    spec = ProviderSpec("conftest:gated_provider", {"gate": str(gate), "entered": str(entered), "reply": "ok"})
    rt = make_runtime(base="tcp", provider=spec, recovery=True, **FAST)
    try:
        handle = rt.submit(KEY, "first contact")
        wait_for(entered.exists, 30, "the owner to block in activation")
        # The Directory will not replace it either, if asked directly.
        refused = rt._mailbox.ask(rt._directory, ReplaceOwner("r1", KEY), 10)
        assert not refused.ok and "activating" in refused.detail
        shared_clock(31)
        start = recovery_ticks(rt)
        wait_for(lambda: recovery_ticks(rt) >= start + 10, 30, "ten recovery sweeps during the activation")
    finally:
        gate.unlink()
    assert handle.result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.status().owners_replaced == 0
    assert ActionKind.REPLACE not in {a.kind for a in rt.recovery_history().actions}


def test_a_session_that_keeps_wedging_is_parked_its_turns_fail_typed_and_unpark_restarts_it(
    make_runtime, shared_clock, count_file
):
    config = RuntimeConfig(recovery=RecoveryConfig(**FAST, replace_backoff=0.1, park_after=2))
    provider = ScriptedProvider(reply="p" * 20, chunks=20, chunk_delay=0.02, count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider, recovery=True, config=config)
    assert rt.submit(KEY, "warm up").result(timeout=30).status is TurnStatus.COMPLETED
    for _ in range(2):  # two replacements are allowed in the window ...
        pid = rt.session(KEY).pid
        resume = stopped(pid)
        try:
            silence_for_a_minute(rt, shared_clock)
            wait_for(lambda pid=pid: not alive(pid), 30, "the wedged owner to be ended")
        finally:
            resume()
        # A query sent while the owner was stopped or being replaced is answered by its successor.
        assert rt.session(KEY, timeout=30).pid not in (pid, 0)
    pid = rt.session(KEY).pid
    accepted = rt.submit(KEY, "accepted before the third wedge")
    assert accepted.wait_accepted(timeout=30)
    resume = stopped(pid)
    try:
        in_mailbox = rt.submit(KEY, "sent to the stopped owner")
        silence_for_a_minute(rt, shared_clock)  # ... the third parks the session
        outcomes = [accepted.result(timeout=30), in_mailbox.result(timeout=30)]
    finally:
        resume()
    assert [(o.status, o.reason) for o in outcomes] == [(TurnStatus.FAILED, OutcomeReason.PARKED)] * 2
    status = rt.status()
    assert [p.session_key for p in status.parked] == [KEY]
    assert "replaced 2 times" in status.parked[0].reason
    assert rt.session(KEY).state == "parked"
    refused = rt.submit(KEY, "while parked").result(timeout=10)
    assert (refused.status, refused.reason) == (TurnStatus.FAILED, OutcomeReason.PARKED)
    runs_before = Counter(streams_started(count_file))
    assert rt.unpark(KEY).ok
    after = rt.submit(KEY, "after unpark").result(timeout=30)
    assert after.status is TurnStatus.COMPLETED, after
    runs = Counter(streams_started(count_file))
    assert runs[accepted.turn_id] == runs_before[accepted.turn_id] <= 1, "a parked turn ran after unpark"
    assert max(runs.values()) <= 2
    entries = read_entries(Path(rt.session(KEY).file))
    ends = [e for e in entries if e.get("turnId") == accepted.turn_id and e.get("customType") == "sessionward.turn_end"]
    assert [e["data"]["reason"] for e in ends] == ["parked"]
    assert not rt.status().parked
