"""Three members on three "hosts" (network namespaces, benchmarks/netns_bed.py): one is
SIGKILLed mid-stream, one is partitioned mid-stream (its cable pulled, then put back).

Runs as root with ``ip``; skipped with the reason elsewhere. Timings are printed by
``python -m benchmarks.partition``, never asserted here (beyond their order).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_entries

from benchmarks import partition
from benchmarks.netns_bed import unavailable
from sessionward.actors.placement import epochs_in_order
from sessionward.storage.entries import is_turn_end

WHY = unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"namespace bed unavailable: {WHY}")


def turns_contiguous(entries: list[dict]) -> bool:
    """True if no turn's entries are interleaved with another's (file order)."""
    done: set[str] = set()
    current = None
    for e in entries:
        turn = e.get("turnId")
        if turn is None or turn == current:
            continue
        if turn in done:
            return False
        if current is not None:
            done.add(current)
        current = turn
    return True


def test_turns_contiguous_sees_an_interleaved_turn():
    assert turns_contiguous([{"turnId": "a"}, {"turnId": "a"}, {}, {"turnId": "b"}])
    assert not turns_contiguous([{"turnId": "a"}, {"turnId": "b"}, {"turnId": "a"}])


def _check_files(store: Path, outcomes: list[dict]) -> None:
    """Epochs never decrease, no turn interleaves, no turn ends twice, every completed
    turn's reply is in its file (and only once)."""
    completed = {o["turn"] for o in outcomes if o["status"] == "completed"}
    for path in (store / "sessions").glob("*.jsonl"):
        entries = read_entries(path)
        assert epochs_in_order(entries), f"{path.name}: a superseded owner wrote after its successor"
        assert turns_contiguous(entries), f"{path.name}: two turns interleave"
        ends = [e["turnId"] for e in entries if is_turn_end(e)]
        assert len(ends) == len(set(ends)), f"{path.name}: a turn ended twice"
        replies = [e["turnId"] for e in entries if e.get("message", {}).get("role") == "assistant"
                   and e["message"].get("stopReason") == "stop"]
        assert len(replies) == len(set(replies)), f"{path.name}: a reply was written twice"
        completed -= set(replies)
    assert not completed, "completed turns whose reply is not in any transcript"


def _check_outcomes(result: partition.Result, sessions: int, *, lease_lost_on: str | None) -> None:
    """One final outcome per submit; nothing failed but a cut-off member's running turns."""
    outcomes = result.outcomes
    assert len(outcomes) == 2 * sessions and len({o["request"] for o in outcomes}) == 2 * sessions
    assert all(o["final"] for o in outcomes)
    for o in outcomes:
        if o["status"] == "completed" or o["reason"] == "heartbeat_skipped":
            continue
        # The reason and detail first: pytest shortens a long dict, and they are the cause.
        assert o["reason"] == "lease_lost" and result.placed.get(o["key"]) == lease_lost_on, (
            f"{o['key']} (on {result.placed.get(o['key'])}): {o['status']} {o['reason']}: {o['detail']}; {o}")


def test_a_member_killed_mid_stream_on_its_own_host_loses_nothing(tmp_path):
    result = partition.run_scenario(tmp_path, partition.kill, chunk_delay=0.1)
    assert "m3" in result.placed.values()
    _check_outcomes(result, 24, lease_lost_on=None)
    _check_files(result.store, result.outcomes)


def test_a_partitioned_member_stops_writing_before_its_sessions_get_a_second_writer(tmp_path):
    # Turns of 6 s (12 chunks of 0.5 s): the cut-off member is still streaming when its
    # lease (4 s) runs out, and the leader declares it gone after 6 s of silence.
    result = partition.run_scenario(tmp_path, partition.cut, chunk_delay=0.5, heal=True)
    assert result.observations, "the cut-off member held no session file at the cut"
    for name, seen in result.observations.items():
        # While the cut-off member held the file, no entry of a newer owner appeared in it.
        assert seen.max_epoch_while_held <= seen.epoch_at_fault, (name, seen)
        # It let go by itself (its lease ran out), before the leader gave the file away.
        assert seen.released_after is not None, (name, seen)
        assert result.fault_time + seen.released_after <= result.detected_time, (name, seen, result.detected_time)
    _check_outcomes(result, 24, lease_lost_on="m3")
    assert any(o["reason"] == "lease_lost" for o in result.outcomes), "no turn was cut off mid-stream"
    _check_files(result.store, result.outcomes)
