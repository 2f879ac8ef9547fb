"""Recovery against real owner processes (multiprocTCPBase): ask the owner, never re-fire."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import assert_no_interleaving, read_entries, streams_started, wait_for

from sessionward import OutcomeReason, ScriptedProvider, TurnStatus
from sessionward.recovery.history import ActionKind
from sessionward.system import alive

FAST = {"recovery_tick": 0.2, "stall_after": 0.4, "abort_after": 1.0}


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


def test_an_owner_killed_mid_stream_is_replaced_and_its_turns_run_once_more(make_runtime, count_file):
    provider = ScriptedProvider(reply="r" * 30, chunks=30, chunk_delay=0.05, count_file=str(count_file))
    rt = make_runtime(base="tcp", provider=provider)
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


def test_a_wedged_owner_is_replaced_and_its_lock_freed(make_runtime):
    rt = make_runtime(base="tcp", recovery=True, **FAST)
    assert rt.submit("agent:main:main", "warm up").result(timeout=30).status is TurnStatus.COMPLETED
    wedged = rt.session("agent:main:main").pid
    rt._wedge("agent:main:main", 60)
    wait_for(lambda: not alive(wedged), 30, "the wedged owner to be ended")
    outcome = rt.submit("agent:main:main", "after").result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED
    assert rt.session("agent:main:main").pid != wedged
    kinds = [a.kind for a in rt.recovery_history().actions]
    assert ActionKind.REPLACE in kinds


def test_a_submit_sent_to_an_owner_that_then_dies_still_gets_its_outcome(make_runtime):
    rt = make_runtime(base="tcp", recovery=True, **FAST)
    assert rt.submit("agent:main:main", "warm up").result(timeout=30).status is TurnStatus.COMPLETED
    wedged = rt.session("agent:main:main").pid
    rt._wedge("agent:main:main", 60)
    late = rt.submit("agent:main:main", "sent while wedged")
    outcome = late.result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED
    assert not alive(wedged)

