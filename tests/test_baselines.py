"""The benchmark's baselines, checks, workload and percentiles.

The baseline tests force contention at known points of a stream through the scripted
stream's hook (another lane's turn runs inside the stream window; recovery sweeps with a
clock set past the threshold), so nothing sleeps to wait for anything. The streams' own
sleeps are a few milliseconds.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import check, stats
from benchmarks.baselines.inprocess_lock import InProcessLockSystem
from benchmarks.baselines.lock_release import (
    LockReleaseConfig,
    LockReleaseSystem,
    SessionWriteLock,
    SessionWriteLockError,
)
from benchmarks.baselines.provider import ScriptedStream
from benchmarks.baselines.recovery import RunHandle, StuckRunWatchdog
from benchmarks.baselines.transcript import create_transcript, now_iso
from benchmarks.row import Row
from benchmarks.run_baselines import run_incident_mix
from benchmarks.table import format_table, write_results
from benchmarks.workload import (
    LANE_WEIGHTS,
    MAIN_KEY,
    RECOVERY_THRESHOLD_SECONDS,
    SubmittedTurn,
    incident_mix,
    session_file,
)

FILE = "main.jsonl"


def _turn(turn_id: str, *, lane: str = "main", seconds: float = 0.004, chunks: int = 2):
    return SubmittedTurn(turn_id, lane, MAIN_KEY, f"text of {turn_id}", seconds, chunks, 0.0)


def _transcript(tmp_path: Path) -> Path:
    path = tmp_path / FILE
    create_transcript(path)
    return path


def _write_jsonl(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


def _entry(turn_id: str | None, role: str = "user", stop: str | None = None) -> dict:
    message = {"role": role, "content": [{"type": "text", "text": "x"}]}
    if stop is not None:
        message["stopReason"] = stop
    entry = {"type": "message", "id": os.urandom(4).hex(), "parentId": None, "message": message}
    if turn_id is not None:
        entry["turnId"] = turn_id
    return entry


# --- lock-release model ---------------------------------------------------------------------


def test_lock_release_drops_the_reply_when_another_lane_writes_during_every_attempt(tmp_path):
    path = _transcript(tmp_path)
    heartbeats = iter(_turn(f"hb{i}", lane="heartbeat", seconds=0.0) for i in range(2))

    def another_lane_writes(turn: SubmittedTurn, model: str, index: int) -> None:
        if turn.turn_id == "A" and index == 0:
            system.run_turn(next(heartbeats))  # runs to its end inside A's stream window

    system = LockReleaseSystem(
        tmp_path,
        lambda key: FILE,
        ScriptedStream(hook=another_lane_writes),
        recovery_threshold=60.0,
        config=LockReleaseConfig(models=("primary", "fallback")),
    )
    system.run_turn(_turn("A"))

    assert system.tally.counts["fence_errors"] == 2
    assert system.tally.counts["all_models_failed"] == 1
    assert "All models failed" in str(system.failures["A"])
    report = check.account_losses(["A", "hb0", "hb1"], [path], system.tally.delivered_at)
    assert report.lost == {"A"}
    assert check.replies_per_turn(path) == {"A": 0, "hb0": 1, "hb1": 1}
    assert check.parse_ok(path)


def test_lock_release_recovery_re_fires_a_second_run_while_the_first_still_streams(tmp_path):
    path = _transcript(tmp_path)

    def recovery_fires(turn: SubmittedTurn, model: str, index: int) -> None:
        if index == 0:
            system.watchdog.sweep(now=time.monotonic() + 10.0)  # every live run is now stuck

    system = LockReleaseSystem(
        tmp_path, lambda key: FILE, ScriptedStream(hook=recovery_fires), recovery_threshold=1.0
    )
    system.run_turn(_turn("A", seconds=0.006, chunks=3))
    system.join_all()

    assert system.tally.counts["second_runs"] == 1
    assert system.tally.counts["runs_started"] == 2
    assert system.tally.counts["aborted_runs"] == 1
    assert check.replies_per_turn(path) == {"A": 1}
    assert "A" in system.tally.delivered_at


def test_lock_release_reclaims_a_lock_file_left_by_a_dead_process(tmp_path):
    transcript = _transcript(tmp_path)
    dead_pid = 2**22 + 1  # above Linux's largest pid_max: no such process
    lock_path = Path(f"{transcript}.lock")
    lock_path.write_text(json.dumps({"pid": dead_pid, "createdAt": now_iso()}))
    system = LockReleaseSystem(tmp_path, lambda k: FILE, ScriptedStream(), recovery_threshold=1.0)

    with SessionWriteLock(transcript, LockReleaseConfig(), owner=7, tally=system.tally):
        assert json.loads(lock_path.read_text())["owner"] == 7

    assert system.tally.counts["stale_locks_reclaimed"] == 1
    assert not lock_path.exists()


def test_lock_release_times_out_on_a_lock_held_by_a_live_process(tmp_path):
    transcript = _transcript(tmp_path)
    Path(f"{transcript}.lock").write_text(json.dumps({"pid": os.getpid(), "createdAt": now_iso()}))
    system = LockReleaseSystem(tmp_path, lambda k: FILE, ScriptedStream(), recovery_threshold=1.0)
    config = LockReleaseConfig(lock_timeout=0.01, lock_backoff_step=0.002)

    with pytest.raises(SessionWriteLockError):
        SessionWriteLock(transcript, config, owner=1, tally=system.tally).acquire()
    assert system.tally.counts["lock_timeouts"] == 1


# --- in-process lock ------------------------------------------------------------------------


def test_in_process_lock_answers_every_turn_contiguously_when_lanes_collide(tmp_path):
    path = _transcript(tmp_path)
    system = InProcessLockSystem(tmp_path, lambda k: FILE, ScriptedStream(), recovery_threshold=60)
    turns = [_turn("A", seconds=0.01, chunks=4)] + [
        _turn(f"hb{i}", lane="heartbeat") for i in range(4)
    ]
    for turn in turns:
        system.submit(turn)
    system.join_all()

    report = check.account_losses([t.turn_id for t in turns], [path], system.tally.delivered_at)
    assert report.lost == frozenset()
    assert report.delivered == len(turns)
    assert check.interleaved_turns(path) == 0
    assert set(check.replies_per_turn(path).values()) == {1}


def test_in_process_lock_re_runs_a_stuck_turn_inside_the_lock_without_splitting_it(tmp_path):
    path = _transcript(tmp_path)

    def recovery_fires(turn: SubmittedTurn, model: str, index: int) -> None:
        if index == 0:
            system.watchdog.sweep(now=time.monotonic() + 10.0)

    system = InProcessLockSystem(
        tmp_path, lambda k: FILE, ScriptedStream(hook=recovery_fires), recovery_threshold=1.0
    )
    system.run_turn(_turn("A", seconds=0.006, chunks=3))

    assert system.tally.counts["second_runs"] == 1
    assert check.replies_per_turn(path) == {"A": 1}
    assert check.interleaved_turns(path) == 0


def test_in_process_lock_loses_nothing_and_interleaves_nothing_on_the_incident_mix(tmp_path):
    row = run_incident_mix("in-process lock", 40, seed=7, workdir=tmp_path, stream_scale=0.04)

    assert (row.submitted, row.completed, row.lost) == (40, 40, 0)
    assert row.interleaved == 0
    assert row.fence_errors == 0
    assert row.parse_ok


# --- checks ---------------------------------------------------------------------------------


def test_interleaved_turns_counts_turns_split_by_another_turns_entries(tmp_path):
    header = {"type": "session", "id": "s"}
    split = _write_jsonl(
        tmp_path / "split.jsonl",
        [
            header,
            _entry("a"),
            _entry("b"),
            _entry("a", "assistant"),
            _entry("c"),
            _entry("c", "assistant"),
            _entry("b", "assistant"),
            _entry(None),
        ],
    )
    contiguous = _write_jsonl(
        tmp_path / "ok.jsonl",
        [header, _entry("a"), _entry("a", "assistant"), _entry(None), _entry("b")],
    )

    assert check.interleaved_turns(split) == 2  # a (b inside) and b (a, c inside); c is whole
    assert check.interleaved_turns(contiguous) == 0


def test_replies_per_turn_counts_assistant_entries_but_not_partials_failures_or_tool_steps(
    tmp_path,
):
    path = _write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"type": "session"},
            _entry("a"),
            _entry("a", "assistant", stop="aborted"),
            _entry("a", "assistant", stop="stop"),
            _entry("b"),
            _entry("c"),
            _entry("c", "assistant"),
            _entry("c", "assistant", stop="stop"),
            _entry("d"),
            _entry("d", "assistant", stop="toolUse"),
            _entry("d", "assistant", stop="error"),
        ],
    )

    assert check.replies_per_turn(path) == {"a": 1, "b": 0, "c": 2, "d": 0}


def test_parse_ok_rejects_a_torn_last_line_and_accepts_whole_lines(tmp_path):
    whole = tmp_path / "whole.jsonl"
    whole.write_text('{"type":"session"}\n{"type":"message"}\n')
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"type":"session"}\n{"type":"mess')
    joined = tmp_path / "joined.jsonl"
    joined.write_text('{"type":"session"}\n{"a":1}{"b":2}\n')

    assert check.parse_ok(whole)
    assert not check.parse_ok(torn)
    assert not check.parse_ok(joined)


def test_a_turn_is_lost_only_with_no_reply_persisted_and_none_delivered(tmp_path):
    path = _write_jsonl(
        tmp_path / "t.jsonl",
        [
            _entry("persisted"),
            _entry("persisted", "assistant"),
            _entry("delivered-only"),
            _entry("dropped"),
            _entry("dropped", "assistant", stop="aborted"),
        ],
    )

    report = check.account_losses(
        ["persisted", "delivered-only", "dropped", "never-written"], [path], ["delivered-only"]
    )

    assert report.lost == {"dropped", "never-written"}
    assert report.loss_pct == 50.0


# --- workload -------------------------------------------------------------------------------


def test_workload_lane_shares_match_the_incident_histogram_for_a_fixed_seed():
    turns = list(incident_mix(3000, seed=1))
    counts = Counter(t.lane for t in turns)
    total = sum(LANE_WEIGHTS.values())

    for lane, weight in LANE_WEIGHTS.items():
        assert counts[lane] / len(turns) == pytest.approx(weight / total, abs=0.02), lane


def test_workload_is_the_same_for_the_same_seed_and_differs_for_another():
    assert list(incident_mix(50, seed=3)) == list(incident_mix(50, seed=3))
    assert list(incident_mix(50, seed=3)) != list(incident_mix(50, seed=4))


def test_workload_routes_heartbeats_to_the_main_file_and_has_long_runs_past_the_threshold():
    scale = 0.1
    turns = list(incident_mix(1000, seed=2, time_scale=scale))

    assert {session_file(t.session_key) for t in turns if t.lane == "heartbeat"} == {FILE}
    long_runs = [t for t in turns if t.stream_seconds > RECOVERY_THRESHOLD_SECONDS * scale]
    assert long_runs and all(t.lane != "heartbeat" for t in long_runs)
    assert [t.submit_at for t in turns] == sorted(t.submit_at for t in turns)
    assert all(2 <= t.chunks <= 40 for t in turns)


# --- recovery watchdog ----------------------------------------------------------------------


def test_watchdog_calls_a_run_stuck_only_past_the_threshold_and_below_the_refire_limit():
    fired: list[RunHandle] = []
    watchdog = StuckRunWatchdog(1.0, fired.append, max_refires=1)
    first = RunHandle(_turn("A"), started_at=100.0)
    refired = RunHandle(_turn("A"), started_at=100.0, generation=1)
    watchdog.register(first)
    watchdog.register(refired)

    assert watchdog.sweep(now=100.5) == []
    assert watchdog.sweep(now=101.5) == [first]
    assert first.abort.is_set() and not refired.abort.is_set()
    assert watchdog.sweep(now=200.0) == []
    assert fired == [first]


# --- stats and table ------------------------------------------------------------------------


def test_nearest_rank_percentiles_pick_measured_values():
    values = [35, 20, 50, 15, 40]

    assert stats.percentile(values, 0) == 15
    assert stats.percentile(values, 30) == 20  # rank ceil(1.5) = 2
    assert stats.percentile(values, 40) == 20  # rank 2
    assert stats.p50(values) == 35  # rank ceil(2.5) = 3
    assert stats.percentile(values, 100) == 50
    assert stats.p99(range(1, 101)) == 99
    assert stats.p50(range(1, 101)) == 50
    assert stats.p99([7]) == 7
    assert math.isnan(stats.p50([]))
    with pytest.raises(ValueError):
        stats.percentile(values, 101)


def test_table_has_one_line_per_row_and_results_write_nan_as_null(tmp_path):
    rows = [
        Row("lock-release", 10, 9, 1, 10.0, 3, 2, 1, 1.5, 30.0, 5.0),
        Row("in-process lock", 10, 10, 0, 0.0, 0, 0, 1, math.nan, math.nan, 4.0),
    ]

    lines = format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["system", "submitted", "completed"]
    assert lines[2].startswith("lock-release") and lines[3].startswith("in-process lock")
    written = json.loads(write_results("t", rows, tmp_path / "t.json").read_text())
    assert written["name"] == "t"
    assert written["rows"][1]["overhead_p50_ms"] is None
    assert written["rows"][0]["lost"] == 1
